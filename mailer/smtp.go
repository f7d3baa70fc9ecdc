package mailer

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTP sends messages through an SMTP server (github.com/wneessen/go-mail).
type SMTP struct {
	from string
	opts []gomail.Option
	host string
}

// NewSMTP configures delivery from EVENTBASE_SMTP_URL:
//
//	smtp://user:pass@host:port   STARTTLS when the server offers it
//	smtp://...?tls=required      STARTTLS or fail
//	smtps://user:pass@host:port  implicit TLS
//	...?auth=plain               force a mechanism (plain, login, cram-md5, ...)
//
// from is the sender address (default "no-reply@<host>"); ?from= in the URL
// also sets it.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return nil, fmt.Errorf("EVENTBASE_SMTP_URL must look like smtp://user:pass@host:port")
	}
	port := 587
	opts := []gomail.Option{gomail.WithTimeout(15 * time.Second), gomail.WithTLSPolicy(gomail.TLSOpportunistic)}
	switch {
	case u.Scheme == "smtps":
		port = 465
		opts = append(opts, gomail.WithSSL())
	case u.Query().Get("tls") == "required":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("EVENTBASE_SMTP_URL: bad port %q", p)
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if u.User != nil && u.User.Username() != "" {
		pw, _ := u.User.Password()
		mech := gomail.SMTPAuthAutoDiscover // picks the strongest offered; PLAIN/LOGIN only over TLS
		if m := u.Query().Get("auth"); m != "" {
			if err := mech.UnmarshalString(m); err != nil {
				return nil, fmt.Errorf("EVENTBASE_SMTP_URL: unknown auth mechanism %q", m)
			}
		}
		opts = append(opts, gomail.WithSMTPAuth(mech), gomail.WithUsername(u.User.Username()), gomail.WithPassword(pw))
	}
	if f := u.Query().Get("from"); f != "" {
		from = f
	}
	if from == "" {
		from = "no-reply@" + u.Hostname()
	}
	return &SMTP{from: from, opts: opts, host: u.Hostname()}, nil
}

// Send implements Sender: one connection per message (auth mail is rare).
func (s *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return err
	}
	if err := msg.To(m.To); err != nil {
		return err
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	c, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return err
	}
	return c.DialAndSendWithContext(ctx, msg)
}
