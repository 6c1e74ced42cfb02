package agencies_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/lifeevents/lifeevents/agencies"
)

func TestWebhookSignsRetriesAndRefuses(t *testing.T) {
	secret := []byte("agency-secret")
	var calls atomic.Int32
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get(agencies.HeaderSignature) != agencies.Sign(secret, body) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		keys = append(keys, r.Header.Get(agencies.HeaderIdempotency))
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable) // first try fails
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	sub := agencies.Submission{ID: "s-1", Agency: "familienkasse", Application: []byte(`{"x":1}`)}
	router := agencies.Router{"familienkasse": agencies.Webhook{URL: srv.URL, Secret: secret}}
	ctx := context.Background()
	if err := router.Deliver(ctx, sub); err == nil || errors.Is(err, agencies.ErrRefused) {
		t.Fatalf("503 should be a retryable error: %v", err)
	}
	if err := router.Deliver(ctx, sub); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if len(keys) != 2 || keys[0] != "s-1" || keys[1] != "s-1" {
		t.Fatalf("idempotency keys %v", keys)
	}
	forged := agencies.Router{"familienkasse": agencies.Webhook{URL: srv.URL, Secret: []byte("wrong")}}
	if err := forged.Deliver(ctx, sub); !errors.Is(err, agencies.ErrRefused) {
		t.Fatalf("a 401 must be final: %v", err)
	}
	// Agencies without a webhook pull: delivering does nothing.
	if err := router.Deliver(ctx, agencies.Submission{ID: "s-2", Agency: "abfallwirtschaft-landkreis"}); err != nil {
		t.Fatal(err)
	}
}
