package mailer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/textproto"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventbase/eventbase/commands"
	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore/sqlite"
	"github.com/eventbase/eventbase/internal/smtptest"
	"github.com/eventbase/eventbase/internal/tail"
	"github.com/eventbase/eventbase/projections"
	rssqlite "github.com/eventbase/eventbase/readstore/sqlite"
	"github.com/eventbase/eventbase/secret"
)

type env struct {
	auth   *commands.Auth
	app    *domain.App
	dir    string
	st     *sqlite.Store
	seal   *secret.Sealer
	runner *projections.Runner
}

func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reads, err := rssqlite.Open(filepath.Join(dir, "reads.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reads.Close() })
	seal, _ := secret.NewSealer(bytes.Repeat([]byte{3}, secret.MasterKeyLen))
	// A runner without projections: it only feeds the mailer's tail, as in a node.
	runner := projections.NewRunner(st, reads, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &env{auth: commands.NewAuth(commands.New(st, runner), seal), app: &domain.App{ID: "app_m", Name: "Mail Test", RefreshDays: 7},
		dir: dir, st: st, seal: seal, runner: runner}
}

func (e *env) mailer(s Sender) *Mailer {
	tl := tail.New(e.st, CodeTypes, e.runner.Position())
	e.runner.OnApplied(tl.Push)
	return &Mailer{Tail: tl, Sealer: e.seal, Sender: s, Checkpoint: filepath.Join(e.dir, "mailer.checkpoint"),
		Log: slog.New(slog.NewTextHandler(testLog, nil)), RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond,
		AppName: func(context.Context, string) (string, error) { return "Mail Test", nil }}
}

// run starts m and returns a stop function that waits for it.
func run(m *Mailer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	return func() { cancel(); <-done }
}

type recorder struct {
	mu    sync.Mutex
	msgs  []Message
	fails int // fail this many sends first
}

func (r *recorder) Send(_ context.Context, m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fails > 0 {
		r.fails--
		return errors.New("smtp down")
	}
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recorder) wait(t *testing.T, n int) []Message {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		got := append([]Message(nil), r.msgs...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %d messages", n)
	return nil
}

var testLog io.Writer = io.Discard

var codeRE = regexp.MustCompile(`\b(\d{6})\b`)

func TestDeliversOnceAcrossRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	// The request is committed while no mailer runs (a crash right after it).
	if err := e.auth.RequestMagicLink(ctx, commands.Meta{}, e.app, "Ann@Example.com "); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{fails: 2} // and the SMTP server is down twice
	stop := run(e.mailer(rec))
	msgs := rec.wait(t, 1)
	stop()
	m := msgs[0]
	if m.To != "ann@example.com" || m.Kind != domain.CodeMagicLink || m.Subject != "Your sign-in code for Mail Test" || !strings.Contains(m.Body, "15 minutes") {
		t.Fatalf("message %+v", m)
	}
	code := codeRE.FindString(m.Body)
	if _, err := e.auth.VerifyMagicLink(ctx, commands.Meta{}, e.app, "ann@example.com", code); err != nil {
		t.Fatalf("the mailed code does not sign in: %v", err)
	}

	// After a restart the first mail is not sent again; a new one is.
	if err := e.auth.ForgotPassword(ctx, commands.Meta{}, e.app.ID, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	rec2 := &recorder{}
	stop = run(e.mailer(rec2))
	msgs = rec2.wait(t, 1)
	if msgs[0].Kind != domain.CodePasswordReset || msgs[0].Subject != "Reset your password for Mail Test" {
		t.Fatalf("after restart: %+v", rec2.msgs)
	}
	// Live: requests made while the mailer runs reach it through the runner.
	for i := 0; i < 3; i++ {
		if err := e.auth.RequestMagicLink(ctx, commands.Meta{}, e.app, fmt.Sprintf("live%d@example.com", i)); err != nil {
			t.Fatal(err)
		}
	}
	msgs = rec2.wait(t, 4)
	time.Sleep(100 * time.Millisecond)
	stop()
	if len(rec2.msgs) != 4 || msgs[1].To != "live0@example.com" || msgs[3].To != "live2@example.com" {
		t.Fatalf("live mail, in order, once: %+v", rec2.msgs)
	}
	// And nothing is sent twice after another restart.
	rec3 := &recorder{}
	stop = run(e.mailer(rec3))
	time.Sleep(200 * time.Millisecond)
	stop()
	if len(rec3.msgs) != 0 {
		t.Fatalf("resent after restart: %+v", rec3.msgs)
	}
}

func TestSkipsExpiredCodes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.auth.RequestMagicLink(context.Background(), commands.Meta{}, e.app, "late@example.com"); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	m := e.mailer(rec)
	m.Now = func() time.Time { return time.Now().Add(16 * time.Minute) }
	stop := run(m)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if p, _ := m.position(); p > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	if p, _ := m.position(); p == 0 || len(rec.msgs) != 0 {
		t.Fatalf("expired code: checkpoint %d, %d messages", p, len(rec.msgs))
	}
}

func TestSMTPDelivery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := smtptest.Start(t)
	sender, err := NewSMTP("smtp://mailuser:mailpass@"+srv.Addr+"?from=auth@example.com&auth=plain", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.auth.SignUp(ctx, commands.Meta{}, e.app, "bob@example.com", "Str0ng!pass", "Bob"); err != nil {
		t.Fatal(err)
	}
	stop := run(e.mailer(sender))
	defer stop()
	mail := strings.ReplaceAll(srv.WaitFor(t, 10*time.Second, func(smtptest.Message) bool { return true }).Data, "\r\n", "\n")
	msg, err := textproto.NewReader(bufio.NewReader(strings.NewReader(mail))).ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	if msg.Get("Subject") != "Verify your email for Mail Test" || !strings.Contains(msg.Get("To"), "bob@example.com") || !strings.Contains(msg.Get("From"), "auth@example.com") {
		t.Fatalf("headers %v", msg)
	}
	code := codeRE.FindString(mail[strings.Index(mail, "\n\n"):])
	if err := e.auth.VerifyEmail(ctx, commands.Meta{}, e.app.ID, "bob@example.com", code); err != nil {
		t.Fatalf("code %q read from the delivered mail: %v", code, err)
	}
	if a := srv.Auths(); len(a) != 1 || a[0] != "mailuser:mailpass" {
		t.Fatalf("AUTH PLAIN credentials %q", a)
	}
}

func TestNewSMTPURLs(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "http://x", "smtp://", "smtp://h:port"} {
		if _, err := NewSMTP(bad, ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	s, err := NewSMTP("smtps://u:p@mail.example.com", "")
	if err != nil || s.from != "no-reply@mail.example.com" {
		t.Fatalf("%v %+v", err, s)
	}
}
