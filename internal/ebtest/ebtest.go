// Package ebtest runs real eventbase nodes for black-box tests: a server.Node
// on a loopback port with a fresh data directory (or MongoDB database), and
// small helpers to talk to it over HTTP.
package ebtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventbase/eventbase/commands"
	"github.com/eventbase/eventbase/server"
)

// Server is a running node.
type Server struct {
	URL    string
	Config server.Config
	Node   *server.Node
	stop   context.CancelFunc
	done   chan error
	admin  string
}

// Start runs a node with cfg (empty fields get test defaults: a temp data
// dir, a free loopback port, quiet logs) until the test ends.
func Start(t testing.TB, cfg server.Config) *Server {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Addr = "127.0.0.1:0"
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{Config: cfg}
	s.start(t)
	t.Cleanup(func() { s.Stop(t) })
	return s
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node, err := server.Open(ctx, s.Config)
	if err != nil {
		t.Fatalf("open node: %v", err)
	}
	if err := node.Listen(); err != nil {
		t.Fatalf("listen: %v", err)
	}
	sctx, stop := context.WithCancel(context.Background())
	s.Node, s.stop, s.done = node, stop, make(chan error, 1)
	s.URL = "http://" + node.Addr()
	go func() { s.done <- node.Serve(sctx) }()
}

// Stop shuts the node down gracefully (idempotent).
func (s *Server) Stop(t testing.TB) {
	if s.stop == nil {
		return
	}
	s.stop()
	if err := <-s.done; err != nil {
		t.Errorf("serve returned %v", err)
	}
	s.stop = nil
}

// Restart stops the node and starts a new one on the same store.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop(t)
	s.start(t)
}

// App is a created app with its keys.
type App = commands.CreatedApp

// AdminToken returns a dashboard admin token, creating the admin once.
func (s *Server) AdminToken(t testing.TB) string {
	t.Helper()
	if s.admin != "" {
		return s.admin
	}
	if _, err := s.Node.Commands().CreateAdmin(context.Background(), commands.Meta{Actor: "test"}, "admin@example.com", "admin-password-1"); err != nil {
		t.Fatalf("create admin: %v", err)
	}
	res := s.Do(t, "POST", "/admin/v1/login", nil, map[string]any{"email": "admin@example.com", "password": "admin-password-1"})
	res.Status(t, 200)
	s.admin = res.String(t, "token")
	return s.admin
}

// CreateApp creates an app through the admin API.
func (s *Server) CreateApp(t testing.TB, name string) App {
	t.Helper()
	res := s.Do(t, "POST", "/admin/v1/apps", H{"Authorization": "Bearer " + s.AdminToken(t)}, map[string]any{"name": name})
	res.Status(t, 201)
	var app App
	if err := json.Unmarshal(res.Raw, &app); err != nil {
		t.Fatal(err)
	}
	return app
}

// H is a set of request headers.
type H map[string]string

// Response is a decoded HTTP response.
type Response struct {
	Code   int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// Do sends a request; body is JSON-encoded unless it is a string or []byte.
func (s *Server) Do(t testing.TB, method, path string, h H, body any) *Response {
	t.Helper()
	return Do(t, method, s.URL+path, h, body)
}

// Do sends a request to a full URL.
func Do(t testing.TB, method, url string, h H, body any) *Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &Response{Code: resp.StatusCode, Header: resp.Header, Raw: raw}
	_ = json.Unmarshal(raw, &r.Body)
	return r
}

// Status fails the test unless the status is code.
func (r *Response) Status(t testing.TB, code int) *Response {
	t.Helper()
	if r.Code != code {
		t.Fatalf("status %d, want %d; body: %s", r.Code, code, r.Raw)
	}
	return r
}

// String returns a top-level string field.
func (r *Response) String(t testing.TB, key string) string {
	t.Helper()
	s, ok := r.Body[key].(string)
	if !ok {
		t.Fatalf("body has no string %q: %s", key, r.Raw)
	}
	return s
}

// Error checks a native error body: status, "error" text and "code".
func (r *Response) Error(t testing.TB, status int, message string) {
	t.Helper()
	r.Status(t, status)
	if r.Body["error"] != message {
		t.Fatalf("error %q, want %q; body: %s", r.Body["error"], message, r.Raw)
	}
	if _, ok := r.Body["code"]; !ok {
		t.Fatalf("error body has no code: %s", r.Raw)
	}
}

// URError checks a urBackend error envelope.
func (r *Response) URError(t testing.TB, status int, message string) {
	t.Helper()
	r.Status(t, status)
	if r.Body["success"] != false || r.Body["message"] != message {
		t.Fatalf("envelope %s, want success false and message %q", r.Raw, message)
	}
}
