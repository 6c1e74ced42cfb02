package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/lifeevents/lifeevents/auth"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/ingest"
)

func newEmit(g *globals) *cobra.Command {
	var brokers, secret, dataDir string
	cmd := &cobra.Command{
		Use:   "emit FILE|-",
		Short: "Validate a life event and publish it to the life-events topic",
		Long: `Reads a CloudEvents JSON document (structured mode) from FILE or standard input,
validates it exactly as ingest would, and publishes it keyed by the keyed hash
of its citizen. An invalid event is not published: the reason is printed.`,
		Example: "  lifeevents emit examples/move.json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var raw []byte
			var err error
			if args[0] == "-" {
				raw, err = io.ReadAll(io.LimitReader(os.Stdin, events.MaxSize+1))
			} else {
				raw, err = os.ReadFile(args[0])
			}
			if err != nil {
				return fmt.Errorf("read event: %w", err)
			}
			e, err := events.Decode(raw, nil, time.Now())
			if err != nil {
				return fmt.Errorf("event refused: %w", err)
			}
			key, err := keySecret(secret, dataDir)
			if err != nil {
				return err
			}
			w := ingest.NewWriter(ingest.Plain(splitList(brokers)...), events.Topic)
			defer w.Close()
			if err := events.NewPublisher(w, key).Publish(cmd.Context(), e); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, e.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&brokers, "kafka-brokers", "127.0.0.1:9092", "comma-separated Kafka bootstrap brokers")
	f.StringVar(&secret, "key-secret", "", "hex secret for hashing citizen ids into message keys (default: the dev data dir's)")
	f.StringVar(&dataDir, "data-dir", ".lifeevents", "dev data dir holding the key secret")
	bindEnv(f, "kafka-brokers", "KAFKA_BROKERS")
	bindEnv(f, "key-secret", "LIFEEVENTS_KEY_SECRET")
	bindEnv(f, "data-dir", "LIFEEVENTS_DATA_DIR")
	return cmd
}

func keySecret(secret, dataDir string) ([]byte, error) {
	if secret != "" {
		return decodeSecret(secret)
	}
	file, err := devFile(dataDir, kafkaKeyFile)
	if err != nil {
		return nil, fmt.Errorf("%w (or set --key-secret)", err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("key secret %s: %w", file, err)
	}
	return decodeSecret(string(b))
}

// devFile is a file of the dev data dir, which must exist: the tools use
// the running dev system's keys and never make their own. The error says
// which data dir was expected and how to point at the right one.
func devFile(dataDir, name string) (string, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", fmt.Errorf("data dir %s: %w", dataDir, err)
	}
	file := filepath.Join(abs, name)
	if _, err := os.Stat(file); err != nil {
		return "", fmt.Errorf("no dev data dir at %s (it holds no %s): start lifeevents dev first, or point --data-dir (LIFEEVENTS_DATA_DIR) at the data dir lifeevents dev uses", abs, name)
	}
	return file, nil
}

func newToken(g *globals) *cobra.Command {
	var sub, dataDir string
	var roles []string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token --sub ID --role ROLE",
		Short: "Mint an API token from the dev signer (dev mode only)",
		Long: `Prints a bearer token signed with the dev data dir's key, for trying the API:
  curl -H "Authorization: Bearer $(lifeevents token --sub c-1001 --role citizen)" ...
Roles: citizen (sub is the citizen id), registry:<municipality key> (a registry
office, e.g. registry:03353022), agency:<agencyId>, policy, operator.
Tokens carry the dev issuer and audience and are valid for at most 24h.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if sub == "" {
				return errors.New("--sub is required")
			}
			if len(roles) == 0 {
				return errors.New("--role is required")
			}
			for _, r := range roles {
				if !auth.ValidRole(r) {
					return fmt.Errorf("unknown role %q: use citizen, registry:<8-digit municipality key>, agency:<id>, policy or operator", r)
				}
			}
			if ttl <= 0 || ttl > 24*time.Hour {
				return fmt.Errorf("--ttl %s: tokens are valid for at most 24h", ttl)
			}
			// A token signed with a key of its own would be refused by the
			// running system: only the dev data dir's key will do.
			keyFile, err := devFile(dataDir, signingKeyFile)
			if err != nil {
				return err
			}
			s, err := auth.LoadOrCreateSigner(keyFile)
			if err != nil {
				return err
			}
			tok, err := s.Sign(sub, roles, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, tok)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&sub, "sub", "", "subject: the citizen id, or the operator's or agency's user id")
	f.StringSliceVar(&roles, "role", nil, "role (repeatable)")
	f.DurationVar(&ttl, "ttl", 12*time.Hour, "validity")
	f.StringVar(&dataDir, "data-dir", ".lifeevents", "dev data dir holding the signing key")
	bindEnv(f, "data-dir", "LIFEEVENTS_DATA_DIR")
	return cmd
}
