// Command devbroker runs the Kafka-protocol test broker (package devkafka)
// as a process of its own, so that tests can kill and restart it like a
// real cluster's broker. It prints "ready <host:port>" once it listens and
// stops on SIGINT or SIGTERM.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/internal/devkafka"
)

func main() {
	port := flag.Int("port", 0, "port on 127.0.0.1 (0: a free one)")
	dir := flag.String("data-dir", "", "keep topics and offsets here across restarts")
	cert := flag.String("tls-cert", "", "PEM certificate: speak TLS only")
	key := flag.String("tls-key", "", "PEM key of the certificate")
	user := flag.String("user", "", "MECHANISM:USER:PASSWORD, turns SASL on (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
	flag.Parse()
	opts := devkafka.Options{Port: *port, DataDir: *dir, Topics: []string{events.Topic, events.TopicDLQ}}
	if *cert != "" {
		pair, err := tls.LoadX509KeyPair(*cert, *key)
		if err != nil {
			fail(err)
		}
		opts.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	if *user != "" {
		parts := strings.SplitN(*user, ":", 3)
		if len(parts) != 3 {
			fail(fmt.Errorf("--user %q: use MECHANISM:USER:PASSWORD", *user))
		}
		opts.Users = []devkafka.User{{Mechanism: parts[0], Username: parts[1], Password: parts[2]}}
	}
	b, err := devkafka.Start(opts)
	if err != nil {
		fail(err)
	}
	fmt.Println("ready", b.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	b.Close()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "devbroker:", err)
	os.Exit(1)
}
