package server_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventbase/eventbase/hooks"
	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/server"
)

type delivery struct {
	header http.Header
	body   []byte
}

// receiver is a loopback HTTP endpoint that records hook deliveries. Its
// first request blocks until release is closed and then fails with 500.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []delivery
	release chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{release: make(chan struct{})}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, delivery{r.Header.Clone(), body})
		rc.mu.Unlock()
		if n == 0 {
			<-rc.release
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) wait(t *testing.T, n int) []delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		rc.mu.Lock()
		got := append([]delivery(nil), rc.got...)
		rc.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %d deliveries", n)
	return nil
}

func auditTypes(t *testing.T, s *ebtest.Server, app ebtest.App, typ string) []map[string]any {
	t.Helper()
	res := s.Do(t, "GET", "/v1/"+app.AppID+"/audit?type="+typ, ebtest.H{"x-api-key": app.SecretKey}, nil).Status(t, 200)
	var out []map[string]any
	for _, e := range res.Body["data"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

func testAuthPostAuthHook(t *testing.T, store server.Config) {
	rc := newReceiver(t)
	s := ebtest.Start(t, onStore(store, server.Config{HookRetryMin: 50 * time.Millisecond}))
	app := s.CreateApp(t, "hooked")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	cfg := "/v1/" + app.AppID + "/config/auth-hooks"
	s.Do(t, "PATCH", cfg, sk, map[string]any{"post_auth_url": "ftp://nope"}).Error(t, 400, "post_auth_url must be an absolute http or https URL")
	s.Do(t, "PATCH", cfg, ebtest.H{"x-api-key": app.PublishableKey}, map[string]any{"post_auth_url": rc.URL}).Status(t, 403)
	set := s.Do(t, "PATCH", cfg, sk, map[string]any{"post_auth_url": rc.URL}).Status(t, 200)
	secret := set.String(t, "signing_secret")
	if !strings.HasPrefix(secret, "whsec_") || set.Body["post_auth_url"] != rc.URL {
		t.Fatalf("set hook %s", set.Raw)
	}

	// The receiver hangs on the first delivery: the token is not delayed.
	start := time.Now()
	signup(t, s, app, "hook@example.com").Status(t, 201)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("signup waited for the hook: %v", d)
	}
	rc.wait(t, 1)
	close(rc.release) // first attempt answers 500: retried
	got := rc.wait(t, 2)
	if got[0].header.Get(hooks.DeliveryHeader) != got[1].header.Get(hooks.DeliveryHeader) || string(got[0].body) != string(got[1].body) {
		t.Fatalf("a retry is not the same delivery")
	}
	d := got[1]
	if err := hooks.Verify(secret, d.header.Get(hooks.SignatureHeader), d.body, time.Now(), 5*time.Minute); err != nil {
		t.Fatalf("signature: %v (%s)", err, d.header.Get(hooks.SignatureHeader))
	}
	if hooks.Verify("whsec_wrong", d.header.Get(hooks.SignatureHeader), d.body, time.Now(), 5*time.Minute) == nil ||
		hooks.Verify(secret, d.header.Get(hooks.SignatureHeader), append(d.body, ' '), time.Now(), 5*time.Minute) == nil {
		t.Fatal("signature accepts a wrong secret or a changed body")
	}
	var body hooks.Body
	if err := json.Unmarshal(d.body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Event != "signup" || !body.IsNewUser || body.Provider != "email" || body.User.Email != "hook@example.com" ||
		body.User.DisplayName == nil || *body.User.DisplayName != "Ann" || d.header.Get(hooks.EventHeader) != "signup" {
		t.Fatalf("signup delivery %s", d.body)
	}

	// Login and magic-link login deliver too.
	s.Do(t, "POST", authPath(app, "/login"), nil, map[string]any{"email": "hook@example.com", "password": goodPassword}).Status(t, 200)
	s.Do(t, "POST", authPath(app, "/magic-link"), nil, map[string]any{"email": "fresh@example.com"}).Status(t, 200)
	code := outboxCode(t, s, app, "fresh@example.com", "magic_link")
	s.Do(t, "POST", authPath(app, "/magic-link/verify"), nil, map[string]any{"email": "fresh@example.com", "code": code}).Status(t, 200)
	got = rc.wait(t, 4)
	events := map[string]hooks.Body{}
	for _, g := range got[2:] {
		var b hooks.Body
		_ = json.Unmarshal(g.body, &b)
		events[b.Event] = b
	}
	if b := events["login"]; b.IsNewUser || b.User.Email != "hook@example.com" {
		t.Fatalf("login delivery %+v", b)
	}
	if b := events["magic_link_login"]; !b.IsNewUser || b.Provider != "magic_link" || b.User.Email != "fresh@example.com" {
		t.Fatalf("magic link delivery %+v", b)
	}
	// Each delivery is in the audit log; the first needed two attempts.
	deadline := time.Now().Add(5 * time.Second)
	for len(auditTypes(t, s, app, "auth_hook_delivered")) < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	rec := auditTypes(t, s, app, "auth_hook_delivered")
	if len(rec) != 3 || rec[0]["payload"].(map[string]any)["attempts"] != 2.0 || rec[0]["payload"].(map[string]any)["event"] != "signup" {
		t.Fatalf("audit of deliveries %v", rec)
	}

	// An endpoint that never answers: retried, then recorded as failed.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String() + "/hook"
	ln.Close()
	s.Do(t, "PATCH", cfg, sk, map[string]any{"post_auth_url": dead}).Status(t, 200)
	s.Do(t, "POST", authPath(app, "/login"), nil, map[string]any{"email": "hook@example.com", "password": goodPassword}).Status(t, 200)
	deadline = time.Now().Add(10 * time.Second)
	for len(auditTypes(t, s, app, "auth_hook_failed")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	failed := auditTypes(t, s, app, "auth_hook_failed")
	if len(failed) != 1 || failed[0]["payload"].(map[string]any)["attempts"] != 5.0 {
		t.Fatalf("failed delivery %v", failed)
	}

	// Removed: no more deliveries.
	off := s.Do(t, "PATCH", cfg, sk, map[string]any{"post_auth_url": nil}).Status(t, 200)
	if off.Body["post_auth_url"] != nil || off.Body["message"] != "Post-auth hook removed" {
		t.Fatalf("remove %s", off.Raw)
	}
}
