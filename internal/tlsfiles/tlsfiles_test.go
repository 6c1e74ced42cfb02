package tlsfiles_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lifeevents/lifeevents/internal/tlsfiles"
	"github.com/lifeevents/lifeevents/internal/tlsfiles/tlstest"
)

func TestLoad(t *testing.T) {
	pki := tlstest.New(t, "localhost")
	if c, err := (tlsfiles.Config{}).Load("--x-tls"); c != nil || err != nil {
		t.Fatalf("no TLS: %v %v", c, err)
	}
	c, err := tlsfiles.Config{CAFile: pki.CA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}.Load("--x-tls")
	if err != nil || c.RootCAs == nil || len(c.Certificates) != 1 {
		t.Fatalf("mutual TLS: %+v %v", c, err)
	}
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	_ = os.WriteFile(garbage, []byte("not a certificate"), 0o600)
	for _, tc := range []struct {
		cfg  tlsfiles.Config
		want string
	}{
		{tlsfiles.Config{CAFile: "/nonexistent/ca.pem"}, "--x-tls-ca /nonexistent/ca.pem: no such file or directory"},
		{tlsfiles.Config{CAFile: garbage}, "--x-tls-ca " + garbage + ": no PEM certificate in the file"},
		{tlsfiles.Config{CertFile: pki.ClientCert}, "--x-tls-cert and --x-tls-key: give both"},
		{tlsfiles.Config{CertFile: pki.ClientCert, KeyFile: "/nonexistent/key.pem"}, "--x-tls-key /nonexistent/key.pem: no such file"},
		{tlsfiles.Config{CertFile: pki.ClientCert, KeyFile: pki.ServerKey}, "--x-tls-cert " + pki.ClientCert + " and --x-tls-key " + pki.ServerKey + ": tls: private key does not match public key"},
	} {
		_, err := tc.cfg.Load("--x-tls")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v, want %q…", tc.cfg, err, tc.want)
		}
	}
}
