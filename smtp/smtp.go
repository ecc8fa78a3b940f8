// Package smtp implements mp3converter.Notifier by sending mail over SMTP
// with github.com/wneessen/go-mail.
//
// The server is given as a URL: smtp://user:pass@host:587 uses STARTTLS
// when the server offers it, smtps://user:pass@host:465 uses TLS from the
// first byte. The query parameter tls=required refuses a server without
// STARTTLS; tls=none never starts TLS. Every connection has a timeout.
package smtp

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/mp3converter/mp3converter"
)

// Notifier sends mail through one SMTP server.
type Notifier struct {
	host    string
	opts    []mail.Option
	from    string
	display string // the server without its password, for logs
}

var _ mp3converter.Notifier = (*Notifier)(nil)

// New parses rawURL and returns a Notifier sending as from.
func New(rawURL, from string, timeout time.Duration) (*Notifier, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("SMTP URL: %w", errors.Unwrap(err))
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("SMTP URL %q has no host", u.Redacted())
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	opts := []mail.Option{mail.WithTimeout(timeout)}
	port := 587
	switch u.Scheme {
	case "smtp":
		switch tls := u.Query().Get("tls"); tls {
		case "", "opportunistic":
			opts = append(opts, mail.WithTLSPolicy(mail.TLSOpportunistic))
		case "required":
			opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
		case "none":
			opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
		default:
			return nil, fmt.Errorf("SMTP URL: tls=%q: want opportunistic, required or none", tls)
		}
	case "smtps":
		port = 465
		opts = append(opts, mail.WithSSL())
	default:
		return nil, fmt.Errorf("SMTP URL %q: scheme must be smtp or smtps", u.Redacted())
	}
	if p := u.Port(); p != "" {
		port, err = strconv.Atoi(p)
		if err != nil || port < 1 || port > 65535 {
			return nil, fmt.Errorf("SMTP URL %q: bad port", u.Redacted())
		}
	}
	opts = append(opts, mail.WithPort(port))
	if u.User != nil && u.User.Username() != "" {
		pass, _ := u.User.Password()
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(u.User.Username()), mail.WithPassword(pass))
	}
	if err := mail.NewMsg().From(from); err != nil {
		return nil, fmt.Errorf("mail sender %q: %w", from, err)
	}
	// Fail now, not at the first mail, if the options are wrong.
	if _, err := mail.NewClient(u.Hostname(), opts...); err != nil {
		return nil, fmt.Errorf("SMTP URL %q: %w", u.Redacted(), err)
	}
	return &Notifier{host: u.Hostname(), opts: opts, from: from, display: u.Redacted()}, nil
}

// String names the server, without the password.
func (n *Notifier) String() string { return n.display }

// Notify implements mp3converter.Notifier. A refusal the server calls
// permanent (a 5xx reply, e.g. an unknown recipient) is Permanent.
func (n *Notifier) Notify(ctx context.Context, m mp3converter.Mail) error {
	msg := mail.NewMsg()
	if err := msg.From(n.from); err != nil {
		return mp3converter.Permanent(fmt.Errorf("from %q: %w", n.from, err))
	}
	if err := msg.To(m.To); err != nil {
		return mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID, "recipient %q: %v", m.To, err))
	}
	msg.Subject(m.Subject)
	msg.SetBodyString(mail.TypeTextPlain, m.Body)
	msg.SetDate()
	if m.ID != "" {
		msg.SetMessageIDWithValue(m.ID)
	} else {
		msg.SetMessageID()
	}
	c, err := mail.NewClient(n.host, n.opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	err = c.DialAndSendWithContext(ctx, msg)
	var se *mail.SendError
	if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
		return mp3converter.Permanent(fmt.Errorf("smtp %s: %w", n.display, err))
	}
	if err != nil {
		return fmt.Errorf("smtp %s: %w: %w", n.display, mp3converter.ErrUnavailable, err)
	}
	return nil
}
