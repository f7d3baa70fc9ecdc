package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/server"
)

func runCLI(t *testing.T, dataDir string, args ...string) (int, string, string) {
	t.Helper()
	t.Setenv("EVENTBASE_DATA_DIR", dataDir)
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestAppsCreateSeenByRunningServer(t *testing.T) {
	s := ebtest.Start(t, server.Config{})
	code, out, stderr := runCLI(t, s.Config.DataDir, "apps", "create", "cli-app", "--json")
	if code != 0 {
		t.Fatalf("apps create exit %d: %s", code, stderr)
	}
	var app struct {
		AppID          string `json:"app_id"`
		PublishableKey string `json:"publishable_key"`
		SecretKey      string `json:"secret_key"`
	}
	if err := json.Unmarshal([]byte(out), &app); err != nil || app.AppID == "" || !strings.HasPrefix(app.SecretKey, "sk_live_") {
		t.Fatalf("apps create printed %q (%v)", out, err)
	}
	// The running server sees the app within 1 s.
	deadline := time.Now().Add(time.Second)
	for {
		res := s.Do(t, "POST", "/v1/"+app.AppID+"/things", ebtest.H{"x-api-key": app.SecretKey}, map[string]any{"ok": true})
		if res.Code == 201 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server did not see the new app within 1s: %d %s", res.Code, res.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAdminCreateAndReplayVerifies(t *testing.T) {
	s := ebtest.Start(t, server.Config{})
	app := s.CreateApp(t, "replayed")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	for i := 0; i < 20; i++ {
		id := s.Do(t, "POST", "/v1/"+app.AppID+"/posts", sk, map[string]any{"i": i}).Status(t, 201).String(t, "_id")
		if i%3 == 0 {
			s.Do(t, "DELETE", "/v1/"+app.AppID+"/posts/"+id, sk, nil).Status(t, 200)
		}
	}
	dir := s.Config.DataDir
	// replay needs the data dir to itself.
	if code, _, stderr := runCLI(t, dir, "replay"); code != 1 || !strings.Contains(stderr, "in use by another eventbase process") {
		t.Fatalf("replay beside serve: exit %d, %s", code, stderr)
	}
	s.Stop(t)
	code, out, stderr := runCLI(t, dir, "replay")
	if code != 0 || !strings.Contains(out, "verified: rebuilt read models equal the previous ones") || !strings.Contains(out, "events/s") {
		t.Fatalf("replay exit %d: %s %s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, dir, "replay", "--app", app.AppID)
	if code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("replay --app exit %d: %s %s", code, out, stderr)
	}
	if code, out, _ := runCLI(t, dir, "admin", "create", "ops@example.com", "long-enough-pw"); code != 0 || out != "admin created\n" {
		t.Fatalf("admin create: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, dir, "admin", "create", "ops@example.com", "another-long-pw"); code != 0 || out != "admin password reset\n" {
		t.Fatalf("admin reset: %d %q", code, out)
	}
	if code, _, stderr := runCLI(t, dir, "admin", "create", "ops@example.com", "short"); code != 1 || !strings.Contains(stderr, "at least 8") {
		t.Fatalf("short admin password: %d %s", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{}, {"frobnicate"}, {"apps"}, {"apps", "create"}, {"admin", "create", "x"}} {
		if code, _, _ := runCLI(t, dir, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
