package devtemporal_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/lifeevents/lifeevents/internal/devtemporal"
	"github.com/lifeevents/lifeevents/internal/tlsfiles"
	"github.com/lifeevents/lifeevents/internal/tlsfiles/tlstest"
	"github.com/lifeevents/lifeevents/workflows"
)

// TestMutualTLS: a frontend that speaks only TLS and requires a client
// certificate, as a production cluster does. The processes' Temporal
// settings connect with the CA and a client certificate; without the
// certificate, with another CA or without TLS they are refused, with an
// error naming the address.
func TestMutualTLS(t *testing.T) {
	pki := tlstest.New(t, "localhost")
	srv, err := devtemporal.Start(devtemporal.Options{
		TLS: &devtemporal.TLS{CA: pki.CA, Cert: pki.ServerCert, Key: pki.ServerKey, ServerName: "localhost", RequireClientCert: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	good := workflows.TemporalConfig{Address: srv.HostPort(), Namespace: srv.Namespace(),
		TLS: tlsfiles.Config{CAFile: pki.CA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey, ServerName: "localhost"}}
	tc, err := good.Dial(ctx, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Fatalf("health: %v", err)
	}
	// A namespace call, not only the handshake: the history service
	// answers (no such workflow) through the authenticated frontend.
	var notFound *serviceerror.NotFound
	if _, err := tc.DescribeWorkflowExecution(ctx, "no-such-workflow", ""); !errors.As(err, &notFound) {
		t.Fatalf("describe: %v", err)
	}

	for name, c := range map[string]tlsfiles.Config{
		"no client certificate": {CAFile: pki.CA, ServerName: "localhost"},
		"another CA":            {CAFile: pki.OtherCA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey, ServerName: "localhost"},
		"no TLS":                {},
	} {
		bad := good
		bad.TLS, bad.DialTimeout = c, 5*time.Second
		began := time.Now()
		tc, err := bad.Dial(ctx, nil, log)
		if err == nil {
			tc.Close()
			t.Errorf("%s: connected", name)
			continue
		}
		if !strings.Contains(err.Error(), "temporal at "+srv.HostPort()) || time.Since(began) > 15*time.Second {
			t.Errorf("%s: %v after %s", name, err, time.Since(began))
		}
	}
}
