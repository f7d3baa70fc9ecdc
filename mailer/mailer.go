// Package mailer sends the e-mails of end-user auth (verification,
// magic-link and password-reset codes). Delivery is driven by the log: a
// Mailer follows the events that issue a code from its own checkpoint, opens
// the sealed code with the master key, and hands a plain-text message to a
// Sender (SMTP, or the log in development). The checkpoint is a file in the
// data directory that moves after each delivery, so a crash after
// magic_link_requested still sends that mail after restart, and a mail sent
// and checkpointed is never sent again (a crash between the two may repeat
// one mail: at least once). Rebuilding the read models does not touch it.
package mailer

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/eventbase/eventbase/commands"
	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/internal/checkpoint"
	"github.com/eventbase/eventbase/internal/tail"
	"github.com/eventbase/eventbase/secret"
)

// Message is one e-mail.
type Message struct {
	AppID    string
	To       string
	Subject  string
	Body     string
	Kind     string // the code's purpose
	Position int64  // of the event that asked for it
}

// Sender delivers a message. An error is retried with back-off.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Compose returns the subject and plain-text body of a code e-mail.
func Compose(appName, purpose, code string) (subject, body string) {
	if appName == "" {
		appName = "your app"
	}
	var what, ttl string
	switch purpose {
	case domain.CodeEmailVerify:
		subject, what, ttl = "Verify your email", "Your verification code is", "24 hours"
	case domain.CodeMagicLink:
		subject, what, ttl = "Your sign-in code", "Your sign-in code is", "15 minutes"
	case domain.CodePasswordReset:
		subject, what, ttl = "Reset your password", "Your password reset code is", "1 hour"
	default:
		subject, what, ttl = "Your code", "Your code is", "a short while"
	}
	subject = subject + " for " + appName
	body = fmt.Sprintf("Hello,\n\n%s: %s\n\nIt expires in %s. If you did not ask for it, ignore this e-mail.\n\n%s\n", what, code, ttl, appName)
	return subject, body
}

// LogSender writes messages to the log, without the code: the code stays
// out of logs (DESIGN invariant 7) and is read from the dev outbox.
type LogSender struct{ Log *slog.Logger }

// Send implements Sender.
func (l LogSender) Send(ctx context.Context, m Message) error {
	l.Log.InfoContext(ctx, "mail (no SMTP configured; the code is in the dev outbox)", "app_id", m.AppID, "to", m.To,
		"subject", m.Subject, "kind", m.Kind, "outbox", "/admin/v1/apps/"+m.AppID+"/outbox")
	return nil
}

// Mailer follows the log and sends one message per code event.
type Mailer struct {
	// Tail feeds the events of CodeTypes (see internal/tail).
	Tail *tail.Tail
	// Claim, when set (several nodes share the store), reports whether this
	// node is the one to send the mail of an event.
	Claim  func(ctx context.Context, e eventstore.Event) bool
	Sealer *secret.Sealer
	Sender Sender
	// AppName names the app in the message.
	AppName func(ctx context.Context, appID string) (string, error)
	// Checkpoint is the file holding the last position handled.
	Checkpoint string
	Log        *slog.Logger
	Now        func() time.Time
	// RetryMin and RetryMax bound the back-off between delivery attempts.
	RetryMin, RetryMax time.Duration
}

func (m *Mailer) defaults() {
	if m.Log == nil {
		m.Log = slog.Default()
	}
	if m.Now == nil {
		m.Now = time.Now
	}
	if m.RetryMin <= 0 {
		m.RetryMin = time.Second
	}
	if m.RetryMax <= 0 {
		m.RetryMax = time.Minute
	}
}

// CodeTypes are the event types that carry a code to mail.
var CodeTypes = []string{domain.EventEmailVerificationSent, domain.EventMagicLinkRequested, domain.EventPasswordResetRequested}

// Run delivers mail until ctx ends.
func (m *Mailer) Run(ctx context.Context) error {
	m.defaults()
	for ctx.Err() == nil {
		pos, err := m.position()
		if err == nil {
			err = m.Tail.Follow(ctx, pos, func(e eventstore.Event) error {
				m.deliver(ctx, e)
				if ctx.Err() != nil {
					return nil // not delivered: the checkpoint stays before it
				}
				return m.save(e.Position)
			})
		}
		if err == nil || ctx.Err() != nil {
			return nil
		}
		m.Log.Error("mailer: reading the log failed; retrying", "err", err)
		select {
		case <-time.After(m.RetryMin):
		case <-ctx.Done():
		}
	}
	return nil
}

// deliver sends the mail of e, retrying until it is sent, its code has
// expired (a late mail is useless), or ctx ends.
func (m *Mailer) deliver(ctx context.Context, e eventstore.Event) {
	if m.Claim != nil && !m.Claim(ctx, e) {
		return // another node sends it
	}
	code, p, err := commands.OpenCode(m.Sealer, e)
	if err != nil {
		m.Log.Error("mailer: cannot open the code (master key changed?); skipping", "position", e.Position, "app_id", e.AppID, "err", err)
		return
	}
	name := ""
	if m.AppName != nil {
		name, _ = m.AppName(ctx, e.AppID)
	}
	subject, body := Compose(name, p.Purpose, code)
	msg := Message{AppID: e.AppID, To: p.Email, Subject: subject, Body: body, Kind: p.Purpose, Position: e.Position}
	wait := m.RetryMin
	for {
		if !m.Now().Before(p.ExpiresAt) {
			m.Log.Warn("mailer: code expired before it could be sent; skipping", "position", e.Position, "app_id", e.AppID, "kind", p.Purpose)
			return
		}
		err := m.Sender.Send(ctx, msg)
		if err == nil {
			return
		}
		m.Log.Warn("mailer: delivery failed; retrying", "position", e.Position, "app_id", e.AppID, "err", err, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		wait = min(wait*2, m.RetryMax)
	}
}

func (m *Mailer) position() (int64, error) { return checkpoint.File(m.Checkpoint).Load() }

func (m *Mailer) save(pos int64) error { return checkpoint.File(m.Checkpoint).Save(pos) }
