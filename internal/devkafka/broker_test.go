package devkafka_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/lifeevents/lifeevents/internal/devkafka"
)

func start(t *testing.T, dir string) *devkafka.Broker {
	t.Helper()
	b, err := devkafka.Start(devkafka.Options{DataDir: dir, Topics: []string{"life-events", "life-events.dlq"}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, addr, topic string, values ...string) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(addr), Topic: topic, BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	var msgs []kafka.Message
	for _, v := range values {
		msgs = append(msgs, kafka.Message{Key: []byte("k"), Value: []byte(v)})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

// consume reads n messages in the group, committing each, and returns the values.
func consume(t *testing.T, addr, group string, n int) []string {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, GroupID: group, Topic: "life-events",
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond, HeartbeatInterval: time.Second,
		SessionTimeout: 6 * time.Second, JoinGroupBackoff: 200 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	for len(got) < n {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, string(m.Value))
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

// TestConsumerGroupResumesAtCommittedOffset commits half the messages,
// restarts consumer and broker, and expects exactly the other half.
func TestConsumerGroupResumesAtCommittedOffset(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kafka")
	b := start(t, dir)
	write(t, b.Addr(), "life-events", "m1", "m2", "m3", "m4", "m5", "m6")
	first := consume(t, b.Addr(), "g", 3)
	b.Close()

	b = start(t, dir)
	defer b.Close()
	write(t, b.Addr(), "life-events", "m7")
	rest := consume(t, b.Addr(), "g", 4)
	all := append(first, rest...)
	seen := map[string]int{}
	for _, v := range all {
		seen[v]++
	}
	for i := 1; i <= 7; i++ {
		v := "m" + string(rune('0'+i))
		if seen[v] != 1 {
			t.Fatalf("%s consumed %d times (all: %v)", v, seen[v], all)
		}
	}
}

// TestKcat checks a third-party client: kcat lists the topics, produces and consumes.
func TestKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not installed (.ci/run installs it)")
	}
	b := start(t, "")
	defer b.Close()
	out, err := exec.Command("kcat", "-b", b.Addr(), "-L").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -L: %v: %s", err, out)
	}
	for _, topic := range []string{`topic "life-events"`, `topic "life-events.dlq"`} {
		if !bytes.Contains(out, []byte(topic)) {
			t.Fatalf("kcat -L does not list %s:\n%s", topic, out)
		}
	}
	produce := exec.Command("kcat", "-b", b.Addr(), "-t", "life-events.dlq", "-P", "-k", "key-1")
	produce.Stdin = strings.NewReader("from kcat\n")
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v: %s", err, out)
	}
	out, err = exec.Command("kcat", "-b", b.Addr(), "-t", "life-events.dlq", "-C", "-e", "-f", "%k=%s\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -C: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "key-1=from kcat") {
		t.Fatalf("kcat did not read back its message: %s", out)
	}
}
