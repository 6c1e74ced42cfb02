package agencies

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Headers of a webhook delivery.
const (
	HeaderSignature   = "X-Lifeevents-Signature"
	HeaderIdempotency = "Idempotency-Key"
)

// ErrRefused is a delivery the agency refused for good (a 4xx other than
// 408 and 429): retrying cannot help.
var ErrRefused = errors.New("agency refused the delivery")

// Deliverer hands a submission to its agency. Agencies in pull mode fetch
// their submissions over the API; their deliverer does nothing.
type Deliverer interface {
	Deliver(ctx context.Context, sub Submission) error
}

// Pull is the deliverer of agencies that pull.
type Pull struct{}

// Deliver does nothing: the submission waits in the agency's list.
func (Pull) Deliver(context.Context, Submission) error { return nil }

// Webhook pushes each submission as an HMAC-signed POST. The submission id
// is the idempotency key, so a retried delivery is recognisable as such.
type Webhook struct {
	URL    string
	Secret []byte
	Client *http.Client
}

// Sign returns the signature header value for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Deliver POSTs the submission; a 2xx is delivered, a 4xx (but 408, 429)
// is ErrRefused, anything else an error worth retrying.
func (w Webhook) Deliver(ctx context.Context, sub Submission) error {
	body, err := json.Marshal(sub)
	if err != nil {
		return fmt.Errorf("agencies: webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderSignature, Sign(w.Secret, body))
	req.Header.Set(HeaderIdempotency, sub.ID)
	c := w.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	res, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("agencies: webhook %s: %w", sub.Agency, err)
	}
	res.Body.Close()
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return nil
	case res.StatusCode >= 400 && res.StatusCode < 500 && res.StatusCode != 408 && res.StatusCode != 429:
		return fmt.Errorf("%w: %s answered %d", ErrRefused, sub.Agency, res.StatusCode)
	}
	return fmt.Errorf("agencies: webhook %s answered %d", sub.Agency, res.StatusCode)
}

// Router picks each agency's deliverer: a webhook where one is configured,
// pull otherwise.
type Router map[string]Deliverer

// Deliver hands the submission to its agency's deliverer.
func (r Router) Deliver(ctx context.Context, sub Submission) error {
	if d, ok := r[sub.Agency]; ok {
		return d.Deliver(ctx, sub)
	}
	return Pull{}.Deliver(ctx, sub)
}
