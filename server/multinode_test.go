package server_test

import (
	"net/http"
	"net/http/httptest"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/internal/mongotest"
	"github.com/eventbase/eventbase/internal/natstest"
	"github.com/eventbase/eventbase/internal/smtptest"
	"github.com/eventbase/eventbase/server"
)

// TestTwoNodesFanOutOverNATS runs two serve nodes on one MongoDB database
// with a NATS JetStream bus: a WebSocket client on node B receives, in
// order and exactly once, every write made through node A.
func TestTwoNodesFanOutOverNATS(t *testing.T) {
	cfg := server.Config{
		MongoURI: mongotest.URI(t), MongoDB: mongotest.DBName("multi"),
		NATSURL:     natstest.Start(t),
		AdminSecret: "a-shared-admin-secret-of-at-least-32-chars",
	}
	a := ebtest.Start(t, cfg)
	b := ebtest.Start(t, cfg)
	app := a.CreateApp(t, "multi")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	a.Do(t, "POST", "/v1/"+app.AppID+"/events", sk, map[string]any{"n": -1}).Status(t, 201)

	// B learns about the app and collection from the shared store.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b.Do(t, "GET", "/v1/"+app.AppID+"/events", sk, nil).Code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node B never saw the app created on node A")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c := b.DialWS(t, "/v1/"+app.AppID+"/realtime?apikey="+app.SecretKey)
	c.Expect("authenticated")
	c.Send(map[string]any{"type": "subscribe", "id": "e", "collection": "events"})
	c.Expect("subscribed")

	const n = 50
	var lat []time.Duration
	prev := 0.0
	for i := 0; i < n; i++ {
		sent := time.Now()
		a.Do(t, "POST", "/v1/"+app.AppID+"/events", sk, map[string]any{"n": i}).Status(t, 201)
		m := c.Expect("change")
		if i == 0 && m["doc"].(map[string]any)["n"] == -1.0 {
			// Node B may not have applied the seed when the client
			// subscribed (it starts from B's own position): it then
			// arrives first, once.
			m = c.Expect("change")
		}
		lat = append(lat, time.Since(sent))
		if got := m["doc"].(map[string]any)["n"]; got != float64(i) {
			t.Fatalf("node B delivered n=%v, want %d", got, i)
		}
		pos := m["position"].(float64)
		if pos <= prev {
			t.Fatalf("position %v after %v", pos, prev)
		}
		prev = pos
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("write on A → change on B (includes the write's own round trip): p50 %s, max %s", lat[n/2], lat[n-1])
	if lat[n/2] > 150*time.Millisecond {
		t.Fatalf("median cross-node delivery %s: nudges are not reaching node B (polling alone is 200 ms)", lat[n/2])
	}
	// Writes through B are read back through B at once, and seen by A.
	id := b.Do(t, "POST", "/v1/"+app.AppID+"/events", sk, map[string]any{"n": 1000}).Status(t, 201).String(t, "_id")
	b.Do(t, "GET", "/v1/"+app.AppID+"/events/"+id, sk, nil).Status(t, 200)
	c.Expect("change")
	deadline = time.Now().Add(5 * time.Second)
	for a.Do(t, "GET", "/v1/"+app.AppID+"/events/"+id, sk, nil).Code != 200 {
		if time.Now().After(deadline) {
			t.Fatal("node A never saw node B's write")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTwoNodesSendMailAndHooksOnce: both nodes see every event, but each
// mail and each hook goes out once.
func TestTwoNodesSendMailAndHooksOnce(t *testing.T) {
	smtp := smtptest.Start(t)
	var hookCalls atomic.Int64
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hookCalls.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer receiver.Close()
	cfg := server.Config{
		MongoURI: mongotest.URI(t), MongoDB: mongotest.DBName("multi"),
		NATSURL:     natstest.Start(t),
		AdminSecret: "a-shared-admin-secret-of-at-least-32-chars",
		MasterKey:   "a-shared-master-key-of-at-least-32-characters",
		SMTPURL:     "smtp://" + smtp.Addr + "?from=noreply@eventbase.test",
	}
	a := ebtest.Start(t, cfg)
	b := ebtest.Start(t, cfg)
	app := a.CreateApp(t, "multi-mail")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	a.Do(t, "PATCH", "/v1/"+app.AppID+"/config/auth-hooks", sk, map[string]any{"post_auth_url": receiver.URL}).Status(t, 200)

	a.Do(t, "POST", "/auth/"+app.AppID+"/magic-link", nil, map[string]any{"email": "erin@example.com"}).Status(t, 200)
	code := codeFrom(t, smtp, "erin@example.com", "multi-mail")
	b.Do(t, "POST", "/auth/"+app.AppID+"/magic-link/verify", nil, map[string]any{"email": "erin@example.com", "code": code}).Status(t, 200)
	deadline := time.Now().Add(10 * time.Second)
	for hookCalls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // time for a second copy to show up, if any
	if n := len(smtp.Messages()); n != 1 {
		t.Fatalf("%d mails sent for one magic link, want 1", n)
	}
	if n := hookCalls.Load(); n != 1 {
		t.Fatalf("%d hook calls for one sign-in, want 1", n)
	}
}
