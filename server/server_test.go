package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/server"
)

func testHealthAndUnknownRoutes(t *testing.T) {
	s := start(t, server.Config{})
	res := s.Do(t, "GET", "/health", nil, nil).Status(t, 200)
	if string(res.Raw) != "{\"status\":\"ok\"}\n" {
		t.Fatalf("health body %q", res.Raw)
	}
	s.Do(t, "GET", "/no/such/route/here/at/all", nil, nil).Error(t, 404, "Not found")
	s.Do(t, "DELETE", "/health", nil, nil).Error(t, 405, "Method not allowed")
	m := s.Do(t, "GET", "/metrics", nil, nil).Status(t, 200)
	if !strings.Contains(string(m.Raw), "eventbase_http_requests_total") {
		t.Fatal("metrics lack eventbase_http_requests_total")
	}
}

func testAdminAppsNeverShowSecrets(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "shop")
	if !strings.HasPrefix(app.PublishableKey, "pk_live_") || !strings.HasPrefix(app.SecretKey, "sk_live_") || !strings.HasPrefix(app.AppID, "app_") {
		t.Fatalf("created %+v", app)
	}
	admin := ebtest.H{"Authorization": "Bearer " + s.AdminToken(t)}
	got := s.Do(t, "GET", "/admin/v1/apps/"+app.AppID, admin, nil).Status(t, 200)
	if got.Body["publishable_key"] != app.PublishableKey || got.Body["name"] != "shop" || got.Body["access_mode"] != "public" {
		t.Fatalf("app view %s", got.Raw)
	}
	list := s.Do(t, "GET", "/admin/v1/apps", admin, nil).Status(t, 200)
	for _, raw := range [][]byte{got.Raw, list.Raw} {
		if strings.Contains(string(raw), app.SecretKey) || strings.Contains(string(raw), "hash") {
			t.Fatalf("admin output leaks a secret: %s", raw)
		}
	}
	s.Do(t, "GET", "/admin/v1/apps", nil, nil).Error(t, 401, "Admin authentication required")
	s.Do(t, "GET", "/admin/v1/apps", ebtest.H{"Authorization": "Bearer " + app.SecretKey}, nil).Error(t, 401, "Admin authentication required")
	s.Do(t, "POST", "/admin/v1/login", nil, map[string]any{"email": "admin@example.com", "password": "wrong-password"}).Error(t, 401, "Invalid email or password")
	s.Do(t, "POST", "/admin/v1/login", nil, map[string]any{"email": "nobody@example.com", "password": "wrong-password"}).Error(t, 401, "Invalid email or password")

	rotated := s.Do(t, "POST", "/admin/v1/apps/"+app.AppID+"/rotate-keys", admin, nil).Status(t, 200)
	newSK := rotated.String(t, "secret_key")
	s.Do(t, "GET", "/v1/"+app.AppID+"/audit", ebtest.H{"x-api-key": app.SecretKey}, nil).Error(t, 401, "API key is expired or invalid.")
	s.Do(t, "GET", "/v1/"+app.AppID+"/audit", ebtest.H{"x-api-key": newSK}, nil).Status(t, 200)
}

func testAuditFiltersPagingAndIsolation(t *testing.T) {
	s := start(t, server.Config{})
	a := s.CreateApp(t, "a")
	b := s.CreateApp(t, "b")
	sk := ebtest.H{"x-api-key": a.SecretKey}
	for i := 0; i < 5; i++ {
		s.Do(t, "POST", "/v1/"+a.AppID+"/posts", sk, map[string]any{"n": i}).Status(t, 201)
	}
	s.Do(t, "POST", "/v1/"+b.AppID+"/posts", ebtest.H{"x-api-key": b.SecretKey}, map[string]any{"n": 99}).Status(t, 201)

	all := s.Do(t, "GET", "/v1/"+a.AppID+"/audit?type=document_created", sk, nil).Status(t, 200)
	data := all.Body["data"].([]any)
	if len(data) != 5 || all.Body["next"] != nil {
		t.Fatalf("audit: %d events, next %v", len(data), all.Body["next"])
	}
	for _, e := range data {
		ev := e.(map[string]any)
		if ev["type"] != "document_created" || ev["actor"] != "secret_key" || ev["request_id"] == "" {
			t.Fatalf("audit event %v", ev)
		}
	}
	// Paging: two per page, resumed with next.
	var seen []float64
	next := ""
	for {
		res := s.Do(t, "GET", "/v1/"+a.AppID+"/audit?type=document_created&limit=2&after="+next, sk, nil).Status(t, 200)
		for _, e := range res.Body["data"].([]any) {
			seen = append(seen, e.(map[string]any)["payload"].(map[string]any)["doc"].(map[string]any)["n"].(float64))
		}
		n, ok := res.Body["next"].(string)
		if !ok {
			break
		}
		next = n
	}
	if fmt.Sprint(seen) != "[0 1 2 3 4]" {
		t.Fatalf("paged audit saw %v", seen)
	}
	// The app's creation is in its audit log, without the secret key's hash.
	created := s.Do(t, "GET", "/v1/"+a.AppID+"/audit?type=app_created", sk, nil).Status(t, 200)
	if len(created.Body["data"].([]any)) != 1 || strings.Contains(string(created.Raw), "hash") || strings.Contains(string(created.Raw), a.SecretKey) {
		t.Fatalf("app_created audit: %s", created.Raw)
	}
	// Time window and stream filters.
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	s.Do(t, "GET", "/v1/"+a.AppID+"/audit?from="+future, sk, nil).Status(t, 200)
	if n := len(s.Do(t, "GET", "/v1/"+a.AppID+"/audit?from="+future, sk, nil).Body["data"].([]any)); n != 0 {
		t.Fatalf("future window returned %d events", n)
	}
	if n := len(s.Do(t, "GET", "/v1/"+a.AppID+"/audit?stream=app", sk, nil).Body["data"].([]any)); n != 1 {
		t.Fatalf("stream=app returned %d events", n)
	}
	s.Do(t, "GET", "/v1/"+a.AppID+"/audit?limit=0", sk, nil).Error(t, 400, "limit must be between 1 and 1000")
	s.Do(t, "GET", "/v1/"+a.AppID+"/audit?from=yesterday", sk, nil).Error(t, 400, "from must be an RFC 3339 time")
	// Who may read it.
	s.Do(t, "GET", "/v1/"+a.AppID+"/audit", ebtest.H{"x-api-key": a.PublishableKey}, nil).Status(t, 403)
	s.Do(t, "GET", "/v1/"+a.AppID+"/audit", nil, nil).Status(t, 401)
	s.Do(t, "GET", "/v1/"+a.AppID+"/audit", ebtest.H{"x-api-key": b.SecretKey}, nil).Error(t, 401, "API key is expired or invalid.")
	s.Do(t, "GET", "/v1/"+a.AppID+"/audit", ebtest.H{"Authorization": "Bearer " + s.AdminToken(t)}, nil).Status(t, 200)
	s.Do(t, "GET", "/v1/app_000000000000000000000000/audit", sk, nil).Error(t, 404, "App not found")
}

func testRestartKeepsDataAndReplayVerifies(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "r")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	doc := s.Do(t, "POST", "/v1/"+app.AppID+"/notes", sk, map[string]any{"text": "kept"}).Status(t, 201)
	id := doc.String(t, "_id")
	s.Do(t, "PATCH", "/v1/"+app.AppID+"/notes/"+id, sk, map[string]any{"text": "kept twice"}).Status(t, 200)
	s.Restart(t)
	got := s.Do(t, "GET", "/v1/"+app.AppID+"/notes/"+id, sk, nil).Status(t, 200)
	if got.Body["text"] != "kept twice" || got.Body["_version"] != 2.0 {
		t.Fatalf("after restart: %s", got.Raw)
	}
	res := s.Do(t, "POST", "/admin/v1/apps/"+app.AppID+"/replay", ebtest.H{"Authorization": "Bearer " + s.AdminToken(t)}, nil).Status(t, 200)
	if res.Body["verified"] != true || res.Body["events"].(float64) < 3 {
		t.Fatalf("replay: %s", res.Raw)
	}
	s.Do(t, "GET", "/v1/"+app.AppID+"/notes/"+id, sk, nil).Status(t, 200)
}

func testSecondServeOnSameDataDirFails(t *testing.T) {
	s := start(t, server.Config{})
	_, err := server.Open(context.Background(), server.Config{DataDir: s.Config.DataDir, Addr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "in use by another eventbase process") {
		t.Fatalf("second open: %v", err)
	}
}

func testCorruptDataDirIsAClearError(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "events.db"), []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := server.Open(context.Background(), server.Config{DataDir: dir, Addr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "events.db") {
		t.Fatalf("corrupt store: %v", err)
	}
}
