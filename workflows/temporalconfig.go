package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	sdklog "go.temporal.io/sdk/log"

	"github.com/lifeevents/lifeevents/internal/tlsfiles"
)

// TemporalConfig is how every process reaches the Temporal cluster: a
// self-hosted one (TLS, mutual TLS) or a managed one (mutual TLS or an API
// key), as the SDK's own samples connect.
type TemporalConfig struct {
	// Address of the frontend, host:port.
	Address string
	// Namespace; default "default". A managed namespace reads
	// "name.account".
	Namespace string
	TLS       tlsfiles.Config
	// APIKey authenticates with a bearer token instead of a client
	// certificate; it turns TLS on.
	APIKey string
	// DialTimeout bounds connecting and the first health check; default 10 s.
	DialTimeout time.Duration
	// Interceptors are the process's, not a setting: tracing's. Workers
	// on the client inherit them.
	Interceptors []interceptor.ClientInterceptor
}

// Validate says what is wrong, in the settings' names.
func (c TemporalConfig) Validate() error {
	if c.Address == "" {
		return errors.New("--temporal-address (TEMPORAL_ADDRESS) is required: the frontend, host:port (7233 self-hosted, <namespace>.tmprl.cloud:7233 managed)")
	}
	if _, port, err := net.SplitHostPort(c.Address); err != nil || port == "" {
		return fmt.Errorf("--temporal-address %q is not host:port", c.Address)
	}
	if c.APIKey != "" && c.TLS.CertFile != "" {
		return errors.New("--temporal-api-key and --temporal-tls-cert: authenticate with one of them")
	}
	return nil
}

// Dial validates the settings, loads the certificates and connects,
// checking the frontend answers within DialTimeout. dc may be nil (the
// SDK's default converter).
func (c TemporalConfig) Dial(ctx context.Context, dc converter.DataConverter, log *slog.Logger) (client.Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.APIKey != "" {
		c.TLS.Enabled = true // a bearer token never crosses the network in clear text
	}
	tlsCfg, err := c.TLS.Load("--temporal-tls")
	if err != nil {
		return nil, err
	}
	opts := client.Options{
		HostPort:          c.Address,
		Namespace:         c.Namespace,
		DataConverter:     dc,
		Logger:            sdklog.NewStructuredLogger(log),
		ConnectionOptions: client.ConnectionOptions{TLS: tlsCfg},
		Interceptors:      c.Interceptors,
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if c.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(c.APIKey)
	}
	timeout := c.DialTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tc, err := client.DialContext(dctx, opts)
	if err != nil {
		return nil, fmt.Errorf("temporal at %s (namespace %s): %w", c.Address, opts.Namespace, err)
	}
	return tc, nil
}
