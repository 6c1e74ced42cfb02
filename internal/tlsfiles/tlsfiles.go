// Package tlsfiles turns a connection's TLS settings (PEM files, as
// managed clusters hand them out) into a tls.Config, with errors that name
// the setting to fix.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Config is the TLS of one connection. The zero value is no TLS.
type Config struct {
	// Enabled turns TLS on; setting any file turns it on as well. Without
	// CAFile the system's roots verify the server.
	Enabled bool
	// CAFile holds the PEM certificates of the authorities that sign the
	// server's certificate (a private CA).
	CAFile string
	// CertFile and KeyFile are the client certificate and its key, for
	// mutual TLS; both or neither.
	CertFile, KeyFile string
	// ServerName overrides the name the server's certificate must carry
	// (default: the host dialled).
	ServerName string
}

// On reports whether the connection uses TLS: a server name given alone
// turns it on too (it means nothing without).
func (c Config) On() bool {
	return c.Enabled || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != ""
}

// Load reads the files and returns the tls.Config, or nil without TLS.
// flag is the settings' common prefix (e.g. "--kafka-tls"): errors name
// flag+"-ca", flag+"-cert" or flag+"-key" and say what is wrong.
func (c Config) Load(flag string) (*tls.Config, error) {
	if !c.On() {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s-ca %s: %w", flag, c.CAFile, unwrapPath(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s-ca %s: no PEM certificate in the file", flag, c.CAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case c.CertFile == "" && c.KeyFile == "":
	case c.CertFile == "" || c.KeyFile == "":
		return nil, fmt.Errorf("%s-cert and %s-key: give both (mutual TLS) or neither", flag, flag)
	default:
		if _, err := os.Stat(c.CertFile); err != nil {
			return nil, fmt.Errorf("%s-cert %s: %w", flag, c.CertFile, unwrapPath(err))
		}
		if _, err := os.Stat(c.KeyFile); err != nil {
			return nil, fmt.Errorf("%s-key %s: %w", flag, c.KeyFile, unwrapPath(err))
		}
		pair, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s-cert %s and %s-key %s: %w", flag, c.CertFile, flag, c.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// unwrapPath drops the *PathError's repetition of the path.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
