// Package notify tells citizens by e-mail that a message waits in their
// Postkorb: a new proposal, a reminder, a result. The e-mail never carries
// the message itself, only that there is one and where to read it. It owns
// the contacts table (where to write to, in which language), filled at each
// portal login from the identity provider's claims.
package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/texts"
)

// Config is where and how e-mails are sent.
type Config struct {
	// URL is smtp://[user:password@]host:port (LIFEEVENTS_SMTP_URL);
	// smtps:// for implicit TLS. Credentials only over TLS, but on
	// loopback.
	URL string
	// From is the sender address (default: noreply@ the public URL's host).
	From string
	// PublicURL is the portal's address the e-mail points to.
	PublicURL string
	// Every is how often waiting messages are looked for (default 5 s).
	Every time.Duration
}

// ErrOff is a config without an SMTP server: nobody is e-mailed.
var ErrOff = errors.New("notify: LIFEEVENTS_SMTP_URL is not set")

// WithDefaults fills what is not set.
func (c Config) WithDefaults() Config {
	if c.Every == 0 {
		c.Every = 5 * time.Second
	}
	if c.From == "" {
		host := "localhost"
		if u, err := url.Parse(c.PublicURL); err == nil && u.Hostname() != "" {
			host = u.Hostname()
		}
		c.From = "noreply@" + host
	}
	return c
}

// Validate names the setting that is wrong.
func (c Config) Validate() error {
	if c.URL == "" {
		return ErrOff
	}
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" || u.Port() == "" {
		return fmt.Errorf("notify: LIFEEVENTS_SMTP_URL must look like smtp://user:password@host:587 (or smtps://…:465)")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("notify: the sender address %q is not an e-mail address", c.From)
	}
	if c.PublicURL == "" {
		return errors.New("notify: LIFEEVENTS_PUBLIC_URL must be set: the e-mail says where to log in")
	}
	return nil
}

// Mail is one e-mail.
type Mail struct {
	To, Subject, Body string
}

// Sender sends e-mails.
type Sender interface {
	Send(ctx context.Context, m Mail) error
}

// SMTP sends through an SMTP server, with STARTTLS where the server offers
// it.
type SMTP struct {
	cfg Config
}

// NewSMTP returns a sender on a validated config.
func NewSMTP(c Config) *SMTP { return &SMTP{cfg: c.WithDefaults()} }

// Send delivers one e-mail.
func (s *SMTP) Send(ctx context.Context, m Mail) error {
	u, _ := url.Parse(s.cfg.URL)
	host := u.Hostname()
	d := net.Dialer{Timeout: 10 * time.Second}
	var conn net.Conn
	var err error
	if u.Scheme == "smtps" {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: &tls.Config{ServerName: host}}).DialContext(ctx, "tcp", u.Host)
	} else {
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	}
	if err != nil {
		return fmt.Errorf("notify: connect to %s: %w", u.Host, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("notify: %s: %w", u.Host, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && u.Scheme == "smtp" {
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return fmt.Errorf("notify: STARTTLS with %s: %w", u.Host, err)
		}
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		// net/smtp's PLAIN auth refuses to send a password unencrypted
		// except to localhost.
		if err := c.Auth(smtp.PlainAuth("", u.User.Username(), pass, host)); err != nil {
			return fmt.Errorf("notify: log in at %s: %w", u.Host, err)
		}
	}
	if err := c.Mail(s.cfg.From); err != nil {
		return smtpProblem("MAIL FROM", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return smtpProblem("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpProblem("DATA", err)
	}
	if _, err := w.Write(compose(s.cfg.From, m)); err != nil {
		return smtpProblem("write", err)
	}
	if err := w.Close(); err != nil {
		return smtpProblem("end of DATA", err)
	}
	return c.Quit()
}

// smtpProblem names the step and the server's code only: servers quote the
// address in their replies, and errors end up in logs.
func smtpProblem(step string, err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return fmt.Errorf("notify: %s: the server answered %d", step, tp.Code)
	}
	return fmt.Errorf("notify: %s failed", step)
}

// compose writes a plain-text e-mail in UTF-8.
func compose(from string, m Mail) []byte {
	var b strings.Builder
	b.WriteString("From: " + from + "\r\n")
	b.WriteString("To: " + m.To + "\r\n")
	b.WriteString("Subject: " + mime.QEncoding.Encode("utf-8", m.Subject) + "\r\n")
	b.WriteString("Date: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\n")
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	b.WriteString("\r\n")
	return []byte(b.String())
}

// Kinds of inbox messages that are worth an e-mail: a new proposal, a
// reminder, a result (and the messages that say the system applied or
// could not).
var notifiable = []string{"proposal", "reminder", "status", "automatic", "escalation", "eligibility_unknown"}

// Contacts keeps where each citizen is written to. It is the only writer of
// the contacts table.
type Contacts struct{ db *pgxpool.Pool }

// NewContacts returns the contacts on db.
func NewContacts(db *pgxpool.Pool) *Contacts { return &Contacts{db: db} }

// Set records the citizen's address and language (at each login).
func (c *Contacts) Set(ctx context.Context, citizenID, email string, lang texts.Lang) error {
	addr, err := mail.ParseAddress(email)
	if err != nil || len(addr.Address) > 254 || strings.ContainsFunc(addr.Address, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return fmt.Errorf("notify: not an e-mail address")
	}
	// The bare address: a display name or comment from a claim has no
	// place in RCPT TO or the To header.
	email = addr.Address
	_, err = c.db.Exec(ctx, `INSERT INTO contacts (citizen_id, email, lang, updated_at) VALUES ($1, $2, $3, now())
		ON CONFLICT (citizen_id) DO UPDATE SET email = excluded.email, lang = excluded.lang, updated_at = now()`,
		citizenID, email, string(lang))
	if err != nil {
		return fmt.Errorf("notify: set contact: %w", err)
	}
	return nil
}

type contact struct {
	email string
	lang  texts.Lang
}

func (n *Notifier) contactsOf(ctx context.Context, citizens []string) (map[string]contact, error) {
	rows, err := n.DB.Query(ctx, `SELECT citizen_id, email, lang FROM contacts WHERE citizen_id = ANY($1)`, citizens)
	if err != nil {
		return nil, fmt.Errorf("notify: contacts: %w", err)
	}
	defer rows.Close()
	out := map[string]contact{}
	for rows.Next() {
		var id, email, lang string
		if err := rows.Scan(&id, &email, &lang); err != nil {
			return nil, fmt.Errorf("notify: contacts: %w", err)
		}
		l, _ := texts.ParseLang(lang)
		out[id] = contact{email: email, lang: l}
	}
	return out, rows.Err()
}

// Notifier e-mails citizens about waiting messages.
type Notifier struct {
	DB     *pgxpool.Pool
	Sender Sender
	Texts  *texts.Catalog
	Config Config
	Log    *slog.Logger
}

// Run looks for waiting messages until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	cfg := n.Config.WithDefaults()
	for {
		if sent, err := n.Once(ctx); err != nil && ctx.Err() == nil {
			n.Log.Warn("notifications failed; trying again", "error", err)
		} else if sent > 0 {
			n.Log.Info("citizens notified", "count", sent)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Every):
		}
	}
}

// Once sends one e-mail per citizen with waiting messages and records the
// messages as notified once the server took it. The messages are claimed
// first (inbox.ClaimForNotice), so two notifiers never write about the
// same ones; a failed e-mail leaves them for a later round, five tries at
// most.
func (n *Notifier) Once(ctx context.Context) (int, error) {
	cfg := n.Config.WithDefaults()
	box := inbox.NewPGStore(n.DB)
	msgs, err := box.ClaimForNotice(ctx, notifiable, 500, time.Minute, 7*24*time.Hour)
	if err != nil {
		return 0, err
	}
	byCitizen := map[string][]string{}
	var order []string
	for _, m := range msgs {
		if byCitizen[m.CitizenID] == nil {
			order = append(order, m.CitizenID)
		}
		byCitizen[m.CitizenID] = append(byCitizen[m.CitizenID], m.ID)
	}
	contacts, err := n.contactsOf(ctx, order)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, citizen := range order {
		to, ok := contacts[citizen]
		if !ok {
			continue
		}
		data := map[string]any{"Count": len(byCitizen[citizen]), "URL": strings.TrimSuffix(cfg.PublicURL, "/") + "/"}
		m := Mail{To: to.email, Subject: n.Texts.T(to.lang, "mail.subject", data), Body: n.Texts.T(to.lang, "mail.body", data)}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := n.Sender.Send(sctx, m)
		cancel()
		if err != nil {
			// Nobody's address in the log (Send reports SMTP codes only);
			// a later round tries again.
			n.Log.Warn("an e-mail could not be sent", "error", err)
			continue
		}
		if err := box.MarkNotified(ctx, byCitizen[citizen]); err != nil {
			return sent, err
		}
		sent++
	}
	return sent, nil
}
