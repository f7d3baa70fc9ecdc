package server_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/realtime"
	"github.com/eventbase/eventbase/server"
	"github.com/gorilla/websocket"
)

// testUrBackendParity: schemas, unique fields, If-Match, history, time
// travel, access mode and the error envelope in the urBackend dialect.
func testUrBackendParity(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "parity")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	s.Do(t, "PUT", "/v1/"+app.AppID+"/config/collections/people", sk, map[string]any{"fields": []map[string]any{
		{"name": "email", "type": "string", "required": true, "unique": true}, {"name": "age", "type": "integer"},
	}}).Status(t, 200)
	base := "/api/data/people"
	s.Do(t, "POST", base, sk, map[string]any{"age": 3}).URError(t, 400, "Field 'email' is required.")
	s.Do(t, "POST", base, sk, map[string]any{"email": "a@x.io", "age": "old"}).URError(t, 400, "Field 'age' must be an integer.")
	created := s.Do(t, "POST", base, sk, map[string]any{"email": "a@x.io", "age": 1}).Status(t, 201)
	doc := created.Body["data"].(map[string]any)
	id := doc["_id"].(string)
	if created.Body["success"] != true || created.Body["message"] == "" {
		t.Fatalf("create envelope %s", created.Raw)
	}
	s.Do(t, "POST", base, sk, map[string]any{"email": "a@x.io"}).URError(t, 409, "Duplicate value for unique field 'email'")

	ifm := ebtest.H{"x-api-key": app.SecretKey, "If-Match": "1"}
	s.Do(t, "PATCH", base+"/"+id, ifm, map[string]any{"age": 2}).Status(t, 200)
	s.Do(t, "PATCH", base+"/"+id, ifm, map[string]any{"age": 3}).URError(t, 409, "The resource was changed by another request; reload and retry")
	between := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(20 * time.Millisecond)
	s.Do(t, "PUT", base+"/"+id, sk, map[string]any{"email": "b@x.io", "age": 4}).Status(t, 200)

	h := s.Do(t, "GET", base+"/"+id+"/history", sk, nil).Status(t, 200)
	items := h.Body["data"].([]any)
	var types []string
	for _, it := range items {
		types = append(types, it.(map[string]any)["type"].(string))
	}
	if fmt.Sprint(types) != "[document_created document_updated document_updated]" {
		t.Fatalf("history %s", h.Raw)
	}
	at := s.Do(t, "GET", base+"/"+id+"?at="+url.QueryEscape(between), sk, nil).Status(t, 200)
	if at.Body["data"].(map[string]any)["age"] != 2.0 {
		t.Fatalf("time travel %s", at.Raw)
	}
	s.Do(t, "GET", base+"/"+id+"/history", ebtest.H{"x-api-key": app.PublishableKey}, nil).URError(t, 403, "This route needs the secret key or an admin token")

	// urBackend's suffix filters and count.
	for i := 0; i < 5; i++ {
		s.Do(t, "POST", base, sk, map[string]any{"email": fmt.Sprintf("p%d@x.io", i), "age": 10 + i}).Status(t, 201)
	}
	res := s.Do(t, "GET", base+"?age_gte=12&age_lt=14", ebtest.H{"x-api-key": app.PublishableKey}, nil).Status(t, 200)
	if n := len(res.Body["data"].(map[string]any)["items"].([]any)); n != 2 {
		t.Fatalf("suffix filters: %s", res.Raw)
	}
	cnt := s.Do(t, "GET", base+"?count=true&email_regex=^P", ebtest.H{"x-api-key": app.PublishableKey}, nil).Status(t, 200)
	if cnt.Body["data"].(map[string]any)["count"] != 5.0 || cnt.Body["message"] != "Count fetched successfully." {
		t.Fatalf("count: %s", cnt.Raw)
	}
	s.Do(t, "GET", base+"?age_exists=maybe", sk, nil).URError(t, 400, `Invalid value for "age_exists"; expected "true" or "false".`)
	s.Do(t, "GET", base+"?email_regex="+strings.Repeat("a", 129), sk, nil).URError(t, 400, `Regex pattern for "email_regex" exceeds 128 characters.`)

	// Access mode applies to the urBackend dialect too.
	s.Do(t, "PATCH", "/v1/"+app.AppID+"/config/access-mode", sk, map[string]any{"access_mode": "authenticated"}).Status(t, 200)
	s.Do(t, "GET", base, ebtest.H{"x-api-key": app.PublishableKey}, nil).URError(t, 401, "Authentication required")
	s.Do(t, "GET", base, sk, nil).Status(t, 200)
}

// testRealtimeLimits: subscriptions per connection, message size, and a
// client that stops answering pings is dropped.
func testRealtimeLimits(t *testing.T) {
	s := start(t, server.Config{Realtime: realtime.Config{MaxSubscriptions: 3, MaxMessageBytes: 1024, PingInterval: 100 * time.Millisecond}})
	app := s.CreateApp(t, "limits")
	s.Do(t, "POST", "/v1/"+app.AppID+"/c", ebtest.H{"x-api-key": app.SecretKey}, map[string]any{"x": 1}).Status(t, 201)
	c := s.DialWS(t, "/v1/"+app.AppID+"/realtime?apikey="+app.SecretKey)
	c.Expect("authenticated")
	for i := 0; i < 3; i++ {
		c.Send(map[string]any{"type": "subscribe", "id": fmt.Sprint(i), "collection": "c"})
		c.Expect("subscribed")
	}
	c.Send(map[string]any{"type": "subscribe", "id": "3", "collection": "c"})
	if e := c.Expect("error"); e["error"] != "too many subscriptions on this connection" {
		t.Fatalf("fourth subscription: %v", e)
	}
	c.Send(map[string]any{"type": "subscribe", "id": "0", "collection": "c"})
	if e := c.Expect("error"); e["error"] != "subscription id already in use" {
		t.Fatalf("duplicate id: %v", e)
	}
	c.Send(map[string]any{"type": "subscribe", "id": "big", "collection": "c", "filter": map[string]any{"x": strings.Repeat("y", 2000)}})
	_ = c.WS.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := c.WS.ReadMessage()
		if err == nil {
			continue
		}
		if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != websocket.CloseMessageTooBig {
			t.Fatalf("oversized message: %v", err)
		}
		break
	}

	// A client that stops answering pings is dropped by the server.
	waitConns := func(want int64, why string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for s.Node.Hub.Connections() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d connections, want %d", why, s.Node.Hub.Connections(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitConns(0, "the closed connection was not freed")
	d := s.DialWS(t, "/v1/"+app.AppID+"/realtime?apikey="+app.SecretKey)
	d.WS.SetPingHandler(func(string) error { return nil }) // never pong
	go func() {
		for {
			if _, _, err := d.WS.ReadMessage(); err != nil {
				return
			}
		}
	}()
	waitConns(1, "connection never registered")
	waitConns(0, "a client that does not answer pings was not dropped")
}
