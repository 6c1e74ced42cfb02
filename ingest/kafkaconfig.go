package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/internal/tlsfiles"
)

// KafkaConfig is how every process reaches the Kafka cluster: the
// consumer, the writers and the readiness probe alike.
type KafkaConfig struct {
	// Brokers are the bootstrap brokers, host:port.
	Brokers []string
	TLS     tlsfiles.Config
	// SASLMechanism is "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; the
	// credentials go with it. Without TLS, a PLAIN password crosses the
	// network readable: Validate refuses that outside loopback.
	SASLMechanism      string
	Username, Password string
	// DialTimeout bounds each connection attempt; default 10 s.
	DialTimeout time.Duration
}

// Validate says what is wrong, in the settings' names.
func (c KafkaConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("--kafka-brokers (KAFKA_BROKERS) is required: the bootstrap brokers, host:port,…")
	}
	for _, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			return fmt.Errorf("--kafka-brokers: %q is not host:port", b)
		}
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case "":
		if c.Username != "" || c.Password != "" {
			return errors.New("--kafka-username/--kafka-password need --kafka-sasl-mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
		return nil
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		return fmt.Errorf("--kafka-sasl-mechanism %q: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASLMechanism)
	}
	if c.Username == "" || c.Password == "" {
		return fmt.Errorf("--kafka-sasl-mechanism %s needs --kafka-username and --kafka-password (KAFKA_USERNAME, KAFKA_PASSWORD)", c.SASLMechanism)
	}
	if strings.EqualFold(c.SASLMechanism, "PLAIN") && !c.TLS.On() && !loopbackOnly(c.Brokers) {
		return errors.New("--kafka-sasl-mechanism PLAIN without --kafka-tls would send the password in clear text: turn TLS on")
	}
	return nil
}

func loopbackOnly(brokers []string) bool {
	for _, b := range brokers {
		host, _, _ := net.SplitHostPort(b)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return false
		}
	}
	return true
}

// Kafka is a validated KafkaConfig with its credentials loaded.
type Kafka struct {
	Brokers   []string
	tls       *tls.Config
	mechanism sasl.Mechanism
	timeout   time.Duration
}

// Open validates the settings and loads the certificates.
func (c KafkaConfig) Open() (Kafka, error) {
	if err := c.Validate(); err != nil {
		return Kafka{}, err
	}
	k := Kafka{Brokers: c.Brokers, timeout: c.DialTimeout}
	if k.timeout <= 0 {
		k.timeout = 10 * time.Second
	}
	var err error
	if k.tls, err = c.TLS.Load("--kafka-tls"); err != nil {
		return Kafka{}, err
	}
	switch strings.ToUpper(c.SASLMechanism) {
	case "PLAIN":
		k.mechanism = plain.Mechanism{Username: c.Username, Password: c.Password}
	case "SCRAM-SHA-256":
		k.mechanism, err = scram.Mechanism(scram.SHA256, c.Username, c.Password)
	case "SCRAM-SHA-512":
		k.mechanism, err = scram.Mechanism(scram.SHA512, c.Username, c.Password)
	}
	if err != nil {
		// Not wrapped: the SCRAM library's message quotes the password.
		return Kafka{}, fmt.Errorf("--kafka-password (KAFKA_PASSWORD): not a valid %s password (control or prohibited characters, a trailing newline from a secret file?)", c.SASLMechanism)
	}
	return k, nil
}

// Plain is a connection without TLS or SASL (dev mode, tests).
func Plain(brokers ...string) Kafka { return Kafka{Brokers: brokers, timeout: 10 * time.Second} }

func (k Kafka) dialer() *kafka.Dialer {
	return &kafka.Dialer{Timeout: k.timeout, DualStack: true, TLS: k.tls, SASLMechanism: k.mechanism}
}

func (k Kafka) transport() *kafka.Transport {
	return &kafka.Transport{DialTimeout: k.timeout, TLS: k.tls, SASL: k.mechanism}
}

// Check is the readiness probe: a broker answers, with TLS and SASL as
// configured, and knows the life-events topic.
func (k Kafka) Check(ctx context.Context) error {
	var errs []error
	for _, b := range k.Brokers {
		conn, err := k.dialer().DialContext(ctx, "tcp", b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, err = conn.ReadPartitions(events.Topic)
		_ = conn.Close()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("kafka at %s: %w", strings.Join(k.Brokers, ","), errors.Join(errs...))
}
