package server_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/realtime"
	"github.com/eventbase/eventbase/server"
	"github.com/gorilla/websocket"
)

func testRealtimeProtocolFilterAndIsolation(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "rt")
	other := s.CreateApp(t, "rt-other")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	base := "/v1/" + app.AppID + "/posts"
	s.Do(t, "POST", base, sk, map[string]any{"title": "seed", "price": 1}).Status(t, 201)
	s.Do(t, "POST", "/v1/"+other.AppID+"/posts", ebtest.H{"x-api-key": other.SecretKey}, map[string]any{"title": "seed"}).Status(t, 201)

	c := s.DialWS(t, "/v1/"+app.AppID+"/realtime?apikey="+app.PublishableKey)
	c.Expect("authenticated")
	c.Send(map[string]any{"type": "subscribe", "id": "s1", "collection": "posts", "filter": map[string]any{"price": map[string]any{"$gte": 10}}})
	sub := c.Expect("subscribed")
	if sub["id"] != "s1" {
		t.Fatalf("subscribed %v", sub)
	}
	o := s.DialWS(t, "/v1/"+other.AppID+"/realtime?apikey="+other.SecretKey)
	o.Expect("authenticated")
	o.Send(map[string]any{"type": "subscribe", "id": "x", "collection": "posts"})
	o.Expect("subscribed")

	s.Do(t, "POST", base, sk, map[string]any{"title": "cheap", "price": 5}).Status(t, 201)
	id := s.Do(t, "POST", base, sk, map[string]any{"title": "dear", "price": 50}).Status(t, 201).String(t, "_id")
	ch := c.Expect("change")
	if ch["id"] != "s1" || ch["op"] != "insert" || ch["collection"] != "posts" || ch["doc"].(map[string]any)["title"] != "dear" || ch["position"].(float64) <= sub["position"].(float64) || ch["ts"] == "" {
		t.Fatalf("change %v", ch)
	}
	s.Do(t, "PATCH", base+"/"+id, sk, map[string]any{"price": 60}).Status(t, 200)
	if u := c.Expect("change"); u["op"] != "update" || u["doc"].(map[string]any)["price"] != 60.0 {
		t.Fatalf("update %v", u)
	}
	s.Do(t, "DELETE", base+"/"+id, sk, nil).Status(t, 200)
	if d := c.Expect("change"); d["op"] != "delete" || d["doc"].(map[string]any)["_id"] != id {
		t.Fatalf("delete %v", d)
	}
	// The other app's subscriber saw none of it.
	o.Silent(300 * time.Millisecond)

	c.Send(map[string]any{"type": "unsubscribe", "id": "s1"})
	c.Expect("unsubscribed")
	s.Do(t, "POST", base, sk, map[string]any{"title": "after", "price": 99}).Status(t, 201)
	c.Silent(300 * time.Millisecond)

	// Protocol errors.
	c.Send(map[string]any{"type": "subscribe", "id": "bad", "collection": "posts", "filter": map[string]any{"$where": "1"}})
	if e := c.Expect("error"); e["id"] != "bad" || !strings.Contains(e["error"].(string), "$where") {
		t.Fatalf("bad filter %v", e)
	}
	c.Send(map[string]any{"type": "subscribe", "id": "nope", "collection": "ghosts"})
	if e := c.Expect("error"); e["error"] != "Collection not found" {
		t.Fatalf("missing collection %v", e)
	}
	c.Send(map[string]any{"type": "launch"})
	if e := c.Expect("error"); e["error"] != "unknown message type" {
		t.Fatalf("unknown type %v", e)
	}
}

func testRealtimeAuthMessageAndAccessMode(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "rt-auth")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	s.Do(t, "POST", "/v1/"+app.AppID+"/posts", sk, map[string]any{"a": 1}).Status(t, 201)
	// urBackend dialect: first message auth.
	u := s.DialWS(t, "/api/realtime")
	u.Send(map[string]any{"type": "subscribe", "id": "s", "collection": "posts"})
	if e := u.Expect("error"); e["error"] != "Authentication required" {
		t.Fatalf("unauthenticated subscribe %v", e)
	}
	u.Send(map[string]any{"type": "auth", "apikey": app.PublishableKey})
	u.Expect("authenticated")
	u.Send(map[string]any{"type": "subscribe", "id": "s", "collection": "posts"})
	u.Expect("subscribed")
	s.Do(t, "POST", "/v1/"+app.AppID+"/posts", sk, map[string]any{"a": 2}).Status(t, 201)
	u.Expect("change")

	bad := s.DialWS(t, "/api/realtime?apikey=pk_live_wrong")
	_ = bad.WS.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := bad.WS.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4401 || ce.Text != "API key is expired or invalid." {
		t.Fatalf("bad key close: %v", err)
	}

	s.Do(t, "PATCH", "/v1/"+app.AppID+"/config/access-mode", sk, map[string]any{"access_mode": "authenticated"}).Status(t, 200)
	anon := s.DialWS(t, "/v1/"+app.AppID+"/realtime?apikey="+app.PublishableKey)
	_ = anon.WS.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = anon.WS.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); !ok || ce.Code != 4401 || ce.Text != "Authentication required" {
		t.Fatalf("anonymous in authenticated mode: %v", err)
	}
	priv := s.DialWS(t, "/v1/"+app.AppID+"/realtime?apikey="+app.SecretKey)
	priv.Expect("authenticated")
}

// TestRealtimeResumeWithoutGapsOrDuplicates drops a client in the middle of
// a write burst and reconnects with its last position.
func testRealtimeResumeWithoutGapsOrDuplicates(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "resume")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	base := "/v1/" + app.AppID + "/ticks"
	s.Do(t, "POST", base, sk, map[string]any{"n": -1}).Status(t, 201)

	const total = 300
	c := s.DialWS(t, "/v1/"+app.AppID+"/realtime?apikey="+app.SecretKey)
	c.Expect("authenticated")
	c.Send(map[string]any{"type": "subscribe", "id": "t", "collection": "ticks"})
	c.Expect("subscribed")

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < total; i++ {
			res := ebtest.Do(t, "POST", s.URL+base, sk, map[string]any{"n": i})
			if res.Code != 201 {
				t.Errorf("write %d: %d", i, res.Code)
				return
			}
		}
	}()
	seen := map[float64]bool{}
	var last float64
	for len(seen) < 60 {
		m := c.Expect("change")
		n := m["doc"].(map[string]any)["n"].(float64)
		seen[n] = true
		last = m["position"].(float64)
	}
	c.WS.Close() // drop mid-burst

	r := s.DialWS(t, "/v1/"+app.AppID+"/realtime?apikey="+app.SecretKey)
	r.Expect("authenticated")
	r.Send(map[string]any{"type": "subscribe", "id": "t", "collection": "ticks", "since": last})
	if sub := r.Expect("subscribed"); sub["position"] != last {
		t.Fatalf("resumed at %v, want %v", sub["position"], last)
	}
	prev := last
	for len(seen) < total {
		m := r.Expect("change")
		pos := m["position"].(float64)
		if pos <= prev {
			t.Fatalf("position %v after %v: duplicate or out of order", pos, prev)
		}
		prev = pos
		n := m["doc"].(map[string]any)["n"].(float64)
		if seen[n] {
			t.Fatalf("duplicate delivery of n=%v", n)
		}
		seen[n] = true
	}
	wg.Wait()
	r.Silent(300 * time.Millisecond)
	for i := 0; i < total; i++ {
		if !seen[float64(i)] {
			t.Fatalf("n=%d never delivered", i)
		}
	}
}

func testRealtimeSlowConsumerIsCutOff(t *testing.T) {
	s := start(t, server.Config{Realtime: realtime.Config{SendQueue: 16}})
	app := s.CreateApp(t, "slow")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	base := "/v1/" + app.AppID + "/blobs"
	s.Do(t, "POST", base, sk, map[string]any{"x": 0}).Status(t, 201)
	slow := s.DialWS(t, "/v1/"+app.AppID+"/realtime?apikey="+app.SecretKey)
	slow.Expect("authenticated")
	slow.Send(map[string]any{"type": "subscribe", "id": "b", "collection": "blobs"})
	slow.Expect("subscribed")
	fast := s.DialWS(t, "/v1/"+app.AppID+"/realtime?apikey="+app.SecretKey)
	fast.Expect("authenticated")
	fast.Send(map[string]any{"type": "subscribe", "id": "b", "collection": "blobs"})
	fast.Expect("subscribed")

	// During the burst the slow client reads one message a second, whatever
	// the machine's load; large changes fill its socket buffers and then its
	// bounded queue. The fast one keeps receiving throughout. After the
	// burst the slow client drains at full speed, to reach the close frame.
	closed := make(chan error, 1)
	burst := make(chan struct{})
	go func() {
		for {
			_ = slow.WS.SetReadDeadline(time.Now().Add(60 * time.Second))
			if _, _, err := slow.WS.ReadMessage(); err != nil {
				closed <- err
				return
			}
			select {
			case <-burst:
			case <-time.After(time.Second):
			}
		}
	}()
	payload := strings.Repeat("x", 128<<10)
	got := 0
	for i := 0; i < 200; i++ {
		s.Do(t, "POST", base, sk, map[string]any{"x": i, "pad": payload}).Status(t, 201)
		for {
			m := fast.Next(10 * time.Second)
			if m["type"] == "change" {
				got++
				break
			}
		}
	}
	close(burst)
	if got != 200 {
		t.Fatalf("fast client got %d changes", got)
	}
	// The slow client was cut off with a reason.
	select {
	case err := <-closed:
		ce, ok := err.(*websocket.CloseError)
		if !ok || ce.Code != 4008 || !strings.Contains(ce.Text, "slow consumer") {
			t.Fatalf("slow client ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("slow client was not disconnected")
	}
}
