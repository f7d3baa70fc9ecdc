package ebtest

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// WS is a realtime client for tests.
type WS struct {
	t  testing.TB
	WS *websocket.Conn
}

// DialWS opens a WebSocket to path on the server, closed when the test ends.
func (s *Server) DialWS(t testing.TB, path string) *WS {
	t.Helper()
	url := "ws" + strings.TrimPrefix(s.URL, "http") + path
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (HTTP %d)", path, err, code)
	}
	t.Cleanup(func() { ws.Close() })
	return &WS{t: t, WS: ws}
}

// Send writes v as a JSON message.
func (c *WS) Send(v any) {
	c.t.Helper()
	if err := c.WS.WriteJSON(v); err != nil {
		c.t.Fatalf("ws write: %v", err)
	}
}

// Next reads the next message, failing after timeout.
func (c *WS) Next(timeout time.Duration) map[string]any {
	c.t.Helper()
	_ = c.WS.SetReadDeadline(time.Now().Add(timeout))
	var m map[string]any
	if err := c.WS.ReadJSON(&m); err != nil {
		c.t.Fatalf("ws read: %v", err)
	}
	return m
}

// Expect reads until a message of type typ arrives (an error message while
// waiting for something else fails the test).
func (c *WS) Expect(typ string) map[string]any {
	c.t.Helper()
	for {
		m := c.Next(5 * time.Second)
		if m["type"] == typ {
			return m
		}
		if typ != "error" && m["type"] == "error" {
			c.t.Fatalf("got error while waiting for %s: %v", typ, m)
		}
	}
}

// Silent waits d, then asserts that nothing arrived in the meantime: the
// answer to a ping is the next message. (A read timeout would break the
// connection, so it is not used.)
func (c *WS) Silent(d time.Duration) {
	c.t.Helper()
	time.Sleep(d)
	c.Send(map[string]any{"type": "ping"})
	if m := c.Next(5 * time.Second); m["type"] != "pong" {
		c.t.Fatalf("unexpected message %v", m)
	}
}
