// Package apiclient calls the lifeevents HTTP API for the command line, with
// an operator's or policy user's bearer token.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config says where the API is and who calls it.
type Config struct {
	// URL of the server, e.g. http://127.0.0.1:8080.
	URL string
	// Token is the caller's bearer token.
	Token string
	// Timeout of one call; a bundle's checks take up to a minute.
	Timeout time.Duration
}

// Validate names what is missing.
func (c Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("--api-url %q: use the server's address, e.g. http://127.0.0.1:8080", c.URL)
	case c.Token == "":
		return errors.New("--token (LIFEEVENTS_TOKEN) is required: in dev, $(lifeevents token --sub you --role policy)")
	}
	return nil
}

// Client calls the API.
type Client struct {
	cfg  Config
	http *http.Client
}

// New returns a client for cfg.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	// Simulations call as many citizens at once: keep their connections.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return &Client{cfg: cfg, http: &http.Client{Timeout: cfg.Timeout, Transport: t}}, nil
}

// As is a client that calls with another token, on the same connections.
func (c *Client) As(token string) *Client {
	cfg := c.cfg
	cfg.Token = token
	return &Client{cfg: cfg, http: c.http}
}

// Error is an answer of the API that is not a success.
type Error struct {
	Status  int
	Code    string
	Message string
	// Body is the whole answer, for fields beyond code and message.
	Body map[string]any
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// Do sends body (JSON-encoded unless it is []byte) to path and decodes the
// answer into out. A non-2xx answer is an *Error.
func (c *Client) Do(ctx context.Context, method, path, contentType string, body any, out any) (int, error) {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(c.cfg.URL, "/")+path, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("API at %s: %w", c.cfg.URL, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return res.StatusCode, fmt.Errorf("API at %s: %w", c.cfg.URL, err)
	}
	if res.StatusCode/100 != 2 {
		e := &Error{Status: res.StatusCode}
		_ = json.Unmarshal(raw, &e.Body)
		if m, ok := e.Body["error"].(map[string]any); ok {
			e.Code, _ = m["code"].(string)
			e.Message, _ = m["message"].(string)
		}
		if e.Message == "" {
			e.Message = http.StatusText(res.StatusCode)
		}
		return res.StatusCode, e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return res.StatusCode, fmt.Errorf("API at %s: unexpected answer: %w", c.cfg.URL, err)
		}
	}
	return res.StatusCode, nil
}
