// Package devsmtp is dev mode's SMTP sink: a real SMTP server on loopback
// that keeps what it is sent in memory and shows it on a page, so the
// notifications can be seen without a mail server.
package devsmtp

import (
	"bytes"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/mail"
	"slices"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Mail is one caught e-mail.
type Mail struct {
	From    string
	To      []string
	Subject string
	Body    string
	At      time.Time
}

// Sink is the running server.
type Sink struct {
	srv *smtp.Server
	l   net.Listener

	mu    sync.Mutex
	mails []Mail
}

// keep bounds what the sink remembers.
const keep = 500

// Start listens on addr (e.g. 127.0.0.1:0).
func Start(addr string, log *slog.Logger) (*Sink, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Sink{l: l}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{sink: s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.MaxMessageBytes = 1 << 20
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	go func() {
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) && log != nil {
			log.Warn("dev SMTP sink stopped", "error", err)
		}
	}()
	return s, nil
}

// URL is the sink's address as LIFEEVENTS_SMTP_URL spells it.
func (s *Sink) URL() string { return "smtp://" + s.l.Addr().String() }

// Close stops the server.
func (s *Sink) Close() error { return s.srv.Close() }

// Mails returns what was caught, newest first.
func (s *Sink) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.mails)
	slices.Reverse(out)
	return out
}

func (s *Sink) add(m Mail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mails = append(s.mails, m)
	if len(s.mails) > keep {
		s.mails = s.mails[len(s.mails)-keep:]
	}
}

type session struct {
	sink *Sink
	from string
	to   []string
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

func (x *session) Mail(from string, _ *smtp.MailOptions) error { x.from = from; return nil }

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Mail{From: x.from, To: x.to, At: time.Now()}
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		dec := new(mime.WordDecoder)
		if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
			m.Subject = msg.Header.Get("Subject")
		}
		body, _ := io.ReadAll(msg.Body)
		m.Body = string(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")))
	} else {
		m.Body = string(raw)
	}
	x.sink.add(m)
	return nil
}

var page = template.Must(template.New("mail").Parse(`<!doctype html>
<html lang="de">
<head><meta charset="utf-8"><title>Abgefangene E-Mails (Entwicklung)</title>
<link rel="stylesheet" href="/static/kern/kern.min.css"></head>
<body><main class="kern-container">
<h1 class="kern-heading-large">Abgefangene E-Mails (Entwicklung) / Caught e-mails (development)</h1>
<p class="kern-body">Was der Entwicklungsmodus per E-Mail verschickt hätte, neueste zuerst. What dev mode would have e-mailed, newest first.</p>
{{range .}}<article class="kern-card"><div class="kern-card__container">
<h2 class="kern-title">{{.Subject}}</h2>
<p class="kern-body">An / to: {{range .To}}{{.}} {{end}} · {{.At.Format "2006-01-02 15:04:05"}}</p>
<pre class="kern-body">{{.Body}}</pre>
</div></article>
{{else}}<p class="kern-body">Noch keine E-Mails. No e-mails yet.</p>{{end}}
</main></body></html>`))

// Handler shows the caught e-mails (mounted at /dev/mail in dev mode).
func (s *Sink) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = page.Execute(w, s.Mails())
	})
}
