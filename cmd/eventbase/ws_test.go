package main

import (
	"strings"
	"testing"
	"time"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/gorilla/websocket"
)

type wsClient struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialWS(t *testing.T, s *ebtest.Server, path string) *wsClient {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.URL, "http")+path, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { ws.Close() })
	return &wsClient{t: t, ws: ws}
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) next() map[string]any {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var m map[string]any
	if err := c.ws.ReadJSON(&m); err != nil {
		c.t.Fatalf("ws read: %v", err)
	}
	return m
}
