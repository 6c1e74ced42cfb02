package ingest_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/ingest"
	"github.com/lifeevents/lifeevents/internal/devkafka"
	"github.com/lifeevents/lifeevents/internal/tlsfiles"
	"github.com/lifeevents/lifeevents/internal/tlsfiles/tlstest"
)

// TestManagedKafka: a broker that speaks only TLS and wants a SASL login,
// as managed clusters do. The probe, the writer and the consumer connect
// with the settings an operator gives; a wrong password, an unknown CA or
// a missing TLS setting are refused by the broker.
func TestManagedKafka(t *testing.T) {
	pki := tlstest.New(t, "localhost")
	pair, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	users := []devkafka.User{{Mechanism: "PLAIN", Username: "plain", Password: "p-secret"},
		{Mechanism: "SCRAM-SHA-256", Username: "scram256", Password: "s256-secret"},
		{Mechanism: "SCRAM-SHA-512", Username: "scram512", Password: "s512-secret"}}
	b, err := devkafka.Start(devkafka.Options{Topics: []string{events.Topic, events.TopicDLQ}, Partitions: 1,
		TLS: &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx := context.Background()
	tlsOn := tlsfiles.Config{CAFile: pki.CA, ServerName: "localhost"}

	for _, u := range users {
		t.Run(u.Mechanism, func(t *testing.T) {
			k, err := ingest.KafkaConfig{Brokers: []string{b.Addr()}, TLS: tlsOn, SASLMechanism: u.Mechanism, Username: u.Username, Password: u.Password}.Open()
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Check(ctx); err != nil {
				t.Fatalf("readiness probe: %v", err)
			}
			w := ingest.NewWriter(k, events.Topic)
			defer w.Close()
			key := "key-" + u.Mechanism
			if err := w.WriteMessages(ctx, kafka.Message{Key: []byte(key), Value: []byte("{}")}); err != nil {
				t.Fatalf("write: %v", err)
			}
			r := ingest.NewReader(k)
			defer r.Close()
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			for {
				m, err := r.FetchMessage(rctx)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				_ = r.CommitMessages(rctx, m)
				if string(m.Key) == key {
					break
				}
			}
		})
	}

	short := func(c ingest.KafkaConfig) error {
		c.Brokers, c.DialTimeout = []string{b.Addr()}, 3*time.Second
		k, err := c.Open()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return k.Check(ctx)
	}
	for name, c := range map[string]ingest.KafkaConfig{
		"wrong password":  {TLS: tlsOn, SASLMechanism: "SCRAM-SHA-256", Username: "scram256", Password: "wrong"},
		"unknown CA":      {TLS: tlsfiles.Config{CAFile: pki.OtherCA, ServerName: "localhost"}, SASLMechanism: "PLAIN", Username: "plain", Password: "p-secret"},
		"no TLS":          {SASLMechanism: "PLAIN", Username: "plain", Password: "p-secret"},
		"no SASL":         {TLS: tlsOn},
		"wrong mechanism": {TLS: tlsOn, SASLMechanism: "SCRAM-SHA-512", Username: "scram256", Password: "s256-secret"},
	} {
		if err := short(c); err == nil {
			t.Errorf("%s: the broker let the client in", name)
		}
	}
}

func TestKafkaConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		c    ingest.KafkaConfig
		want string
	}{
		{ingest.KafkaConfig{}, "--kafka-brokers (KAFKA_BROKERS) is required"},
		{ingest.KafkaConfig{Brokers: []string{"kafka.example"}}, `--kafka-brokers: "kafka.example" is not host:port`},
		{ingest.KafkaConfig{Brokers: []string{"k:9092"}, SASLMechanism: "GSSAPI"}, `--kafka-sasl-mechanism "GSSAPI": use PLAIN`},
		{ingest.KafkaConfig{Brokers: []string{"k:9092"}, SASLMechanism: "SCRAM-SHA-256"}, "needs --kafka-username and --kafka-password"},
		{ingest.KafkaConfig{Brokers: []string{"k:9092"}, Username: "u", Password: "p"}, "need --kafka-sasl-mechanism"},
		{ingest.KafkaConfig{Brokers: []string{"k:9092"}, SASLMechanism: "PLAIN", Username: "u", Password: "p"}, "clear text: turn TLS on"},
		{ingest.KafkaConfig{Brokers: []string{"k:9092"}, TLS: tlsfiles.Config{CAFile: "/nonexistent/ca.pem"}}, "--kafka-tls-ca /nonexistent/ca.pem: no such file"},
		{ingest.KafkaConfig{Brokers: []string{"k:9092"}, SASLMechanism: "SCRAM-SHA-512", Username: "u", Password: "secret-pw\u0007"}, "--kafka-password (KAFKA_PASSWORD): not a valid SCRAM-SHA-512 password"},
	} {
		_, err := tc.c.Open()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("%+v: %v, want %q and no password", tc.c, err, tc.want)
		}
	}
	if _, err := (ingest.KafkaConfig{Brokers: []string{"127.0.0.1:9092"}, SASLMechanism: "PLAIN", Username: "u", Password: "p"}).Open(); err != nil {
		t.Errorf("PLAIN on loopback: %v", err)
	}
}
