// Package devkafka runs an in-process broker that speaks the Kafka protocol
// (franz-go's kfake), for dev mode and tests. Any Kafka client, kafka-go and
// kcat included, talks to it as to a one-node cluster.
package devkafka

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Options configure the broker.
type Options struct {
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// DataDir persists topics, records and committed offsets across
	// restarts; empty keeps everything in memory.
	DataDir string
	// Topics are created at start (existing ones are kept).
	Topics []string
	// Partitions per seeded topic.
	Partitions int32
	Logger     *slog.Logger
	// TLS, if set, makes the broker speak TLS only (a managed cluster's
	// listener, for the tests of the clients' TLS settings).
	TLS *tls.Config
	// Users, if any, turn SASL on: only they may connect.
	Users []User
}

// User is a SASL account of the broker.
type User struct {
	Mechanism          string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Username, Password string
}

// Broker is a running in-process broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
}

// Start starts the broker and seeds the topics.
func Start(opts Options) (*Broker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Partitions <= 0 {
		opts.Partitions = 4
	}
	if opts.Port != 0 {
		// kfake would fail with a bare bind error: name the port instead.
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", opts.Port))
		if err != nil {
			return nil, fmt.Errorf("devkafka: port 127.0.0.1:%d is in use", opts.Port)
		}
		_ = l.Close()
	}
	kopts := []kfake.Opt{
		kfake.Ports(opts.Port),
		kfake.ClusterID("lifeevents-dev"),
		kfake.SeedTopics(opts.Partitions, opts.Topics...),
		kfake.WithLogger(logAdapter{opts.Logger}),
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}
	if opts.TLS != nil {
		kopts = append(kopts, kfake.TLS(opts.TLS))
	}
	if len(opts.Users) > 0 {
		kopts = append(kopts, kfake.EnableSASL())
		for _, u := range opts.Users {
			kopts = append(kopts, kfake.Superuser(u.Mechanism, u.Username, u.Password))
		}
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("devkafka: start: %w", err)
	}
	addrs := c.ListenAddrs()
	return &Broker{cluster: c, addr: addrs[0]}, nil
}

// Addr is the bootstrap address, host:port.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker; with a DataDir its state is flushed to disk.
func (b *Broker) Close() { b.cluster.Close() }

type logAdapter struct{ l *slog.Logger }

func (a logAdapter) Logf(level kfake.LogLevel, format string, args ...any) {
	// kfake is chatty at info; only its warnings and errors matter to an operator.
	switch level {
	case kfake.LogLevelError:
		a.l.Error("kafka broker: " + strings.TrimSpace(fmt.Sprintf(format, args...)))
	case kfake.LogLevelWarn:
		a.l.Warn("kafka broker: " + strings.TrimSpace(fmt.Sprintf(format, args...)))
	}
}
