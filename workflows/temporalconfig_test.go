package workflows_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/lifeevents/lifeevents/internal/tlsfiles"
	"github.com/lifeevents/lifeevents/internal/tlsfiles/tlstest"
	"github.com/lifeevents/lifeevents/workflows"
)

// frontend is a TLS gRPC server that answers the SDK's first call and
// remembers the authorization it was sent, as a managed namespace's
// frontend checks an API key.
type frontend struct {
	workflowservice.UnimplementedWorkflowServiceServer
	mu   sync.Mutex
	auth []string
}

func (f *frontend) GetSystemInfo(ctx context.Context, _ *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.auth = append(f.auth, md.Get("authorization")...)
	f.mu.Unlock()
	return &workflowservice.GetSystemInfoResponse{}, nil
}

func TestAPIKey(t *testing.T) {
	pki := tlstest.New(t, "localhost")
	pair, err := tls.LoadX509KeyPair(pki.ServerCert, pki.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &frontend{}
	srv := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&pair)))
	workflowservice.RegisterWorkflowServiceServer(srv, f)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)

	cfg := workflows.TemporalConfig{Address: l.Addr().String(), Namespace: "district.a1b2c", APIKey: "key-of-the-district",
		TLS: tlsfiles.Config{CAFile: pki.CA, ServerName: "localhost"}}
	tc, err := cfg.Dial(context.Background(), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	tc.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.auth) == 0 || f.auth[0] != "Bearer key-of-the-district" {
		t.Fatalf("the frontend was sent %q", f.auth)
	}
}

func TestTemporalConfigRefusals(t *testing.T) {
	for _, tc := range []struct {
		c    workflows.TemporalConfig
		want string
	}{
		{workflows.TemporalConfig{}, "--temporal-address (TEMPORAL_ADDRESS) is required"},
		{workflows.TemporalConfig{Address: "temporal.example"}, `--temporal-address "temporal.example" is not host:port`},
		{workflows.TemporalConfig{Address: "t:7233", APIKey: "k", TLS: tlsfiles.Config{CertFile: "c.pem", KeyFile: "k.pem"}}, "authenticate with one of them"},
		{workflows.TemporalConfig{Address: "t:7233", TLS: tlsfiles.Config{CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}}, "--temporal-tls-cert /nonexistent/c.pem: no such file"},
	} {
		_, err := tc.c.Dial(context.Background(), nil, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
}
