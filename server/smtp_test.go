package server_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/internal/smtptest"
	"github.com/eventbase/eventbase/server"
)

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// codeFrom waits for a mail to addr whose subject contains subject and
// returns the 6-digit code in its body.
func codeFrom(t *testing.T, smtp *smtptest.Server, addr, subject string) string {
	t.Helper()
	m := smtp.WaitFor(t, 10*time.Second, func(m smtptest.Message) bool {
		return len(m.To) == 1 && m.To[0] == addr && strings.Contains(m.Data, subject)
	})
	body := m.Data[strings.Index(m.Data, "\r\n\r\n"):]
	code := sixDigits.FindString(body)
	if code == "" {
		t.Fatalf("no code in mail: %s", m.Data)
	}
	return code
}

// testSMTPDeliveryEndToEnd: with EVENTBASE_SMTP_URL set, verification and
// magic-link codes go out through a real SMTP server on loopback, and the
// codes read from the delivered mails work on the HTTP API.
func testSMTPDeliveryEndToEnd(t *testing.T) {
	smtp := smtptest.Start(t)
	s := start(t, server.Config{SMTPURL: "smtp://mailer:secret@" + smtp.Addr + "?auth=plain&from=noreply@eventbase.test"})
	app := s.CreateApp(t, "Mail Shop")
	auth := "/auth/" + app.AppID

	s.Do(t, "POST", auth+"/signup", nil, map[string]any{"email": "Carol@Example.com", "password": "Sup3r-secret!"}).Status(t, 201)
	code := codeFrom(t, smtp, "carol@example.com", "Verify")
	s.Do(t, "POST", auth+"/verify-email", nil, map[string]any{"email": "carol@example.com", "code": code}).Status(t, 200)

	s.Do(t, "POST", auth+"/magic-link", nil, map[string]any{"email": "dave@example.com"}).Status(t, 200)
	code = codeFrom(t, smtp, "dave@example.com", "Mail Shop")
	res := s.Do(t, "POST", auth+"/magic-link/verify", nil, map[string]any{"email": "dave@example.com", "code": code}).Status(t, 200)
	if res.Body["access_token"] == nil || res.Body["user"].(map[string]any)["email_verified"] != true {
		t.Fatalf("magic-link login: %s", res.Raw)
	}
	if a := smtp.Auths(); len(a) == 0 || a[0] != "mailer:secret" {
		t.Fatalf("SMTP AUTH %v", a)
	}
	// With SMTP configured there is no dev outbox.
	s.Do(t, "GET", "/admin/v1/apps/"+app.AppID+"/outbox", ebtest.H{"Authorization": "Bearer " + s.AdminToken(t)}, nil).Status(t, 404)
}
