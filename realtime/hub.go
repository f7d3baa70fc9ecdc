// Package realtime is the WebSocket hub: clients subscribe to a collection
// with an optional filter and receive every change they may read (RLS and
// access mode apply as on GET), in position order. A subscription with
// `since` first replays the matching changes after that position from the
// log, then continues live with no gap and no duplicate. Each connection has
// a bounded send queue; a client that cannot keep up is disconnected with a
// close reason instead of slowing anyone else.
package realtime

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/gorilla/websocket"
)

// Principal is an authenticated connection's identity.
type Principal struct {
	AppID      string
	AccessMode string
	Privileged bool      // secret key: bypasses RLS
	UserID     string    // end user, if a token was given
	Expires    time.Time // token expiry; zero without a token
}

// Authenticator checks the credentials of a connection. appID is "" in the
// urBackend dialect, where the key names the app.
type Authenticator interface {
	Authenticate(ctx context.Context, appID, apikey, token string) (*Principal, error)
}

// Collections returns collection definitions (schema and RLS); the
// implementation caches them and drops an entry before the events that
// change it reach the hub.
type Collections interface {
	Collection(ctx context.Context, appID, name string) (*domain.Collection, error)
}

// Config bounds what one connection may cost.
type Config struct {
	SendQueue        int           // messages queued per connection before it is cut off (default 256)
	MaxSubscriptions int           // per connection (default 100)
	MaxMessageBytes  int64         // largest client message (default 64 KiB)
	MaxPending       int           // live changes buffered while a resume catches up (default 10000)
	PingInterval     time.Duration // default 25 s
	WriteTimeout     time.Duration // default 10 s
}

func (c *Config) defaults() {
	if c.SendQueue <= 0 {
		c.SendQueue = 256
	}
	if c.MaxSubscriptions <= 0 {
		c.MaxSubscriptions = 100
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 64 << 10
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 10000
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
}

// Hub fans committed document events out to subscribed connections.
type Hub struct {
	cfg    Config
	events eventstore.Store
	auth   Authenticator
	colls  Collections
	log    *slog.Logger
	up     websocket.Upgrader

	mu    sync.RWMutex
	conns map[string]map[*conn]struct{} // app id → connections

	// positions holds, per app, the last position dispatched to live
	// subscribers. Positions are per store, and an app's events all come
	// from one store (its own, when it brings its own MongoDB), in order.
	pmu       sync.Mutex
	positions map[string]int64

	// head returns the last position the projections applied in the app's
	// store: a new live subscription starts after it, so writes
	// acknowledged before it subscribed are not sent (and later ones all are).
	head func(appID string) int64

	connections atomic.Int64
}

// New returns a hub. Feed it committed events with Dispatch (from the bus).
func New(cfg Config, events eventstore.Store, head func(appID string) int64, auth Authenticator, colls Collections, log *slog.Logger) *Hub {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	return &Hub{cfg: cfg, events: events, head: head, auth: auth, colls: colls, log: log,
		conns: map[string]map[*conn]struct{}{}, positions: map[string]int64{},
		up: websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 1024, CheckOrigin: func(*http.Request) bool { return true }}}
}

// position returns the last position dispatched for the app.
func (h *Hub) position(appID string) int64 {
	h.pmu.Lock()
	defer h.pmu.Unlock()
	return h.positions[appID]
}

// Connections returns the number of open connections.
func (h *Hub) Connections() int64 { return h.connections.Load() }

// change is a decoded document event: its collection's definition is
// resolved and everything of its message but the subscription id is
// encoded once, however many subscribers receive it.
type change struct {
	ev         eventstore.Event
	collection string
	coll       *domain.Collection // nil if it could not be loaded: not delivered
	doc        map[string]any
	tail       []byte // the message after the subscription id
}

// decode returns the change of a document event (false for other events).
func (h *Hub) decode(ctx context.Context, e eventstore.Event) (*change, bool) {
	op := ""
	switch e.Type {
	case domain.EventDocumentCreated:
		op = "insert"
	case domain.EventDocumentUpdated:
		op = "update"
	case domain.EventDocumentDeleted:
		op = "delete"
	default:
		return nil, false
	}
	var p struct {
		Collection string          `json:"collection"`
		Doc        json.RawMessage `json:"doc"`
	}
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return nil, false
	}
	var doc map[string]any
	if err := json.Unmarshal(p.Doc, &doc); err != nil {
		return nil, false
	}
	ch := &change{ev: e, collection: p.Collection, doc: doc}
	ch.coll, _ = h.colls.Collection(ctx, e.AppID, p.Collection)
	coll, _ := json.Marshal(p.Collection)
	b := make([]byte, 0, len(p.Doc)+96)
	b = append(b, `,"op":"`...)
	b = append(b, op...)
	b = append(b, `","collection":`...)
	b = append(b, coll...)
	b = append(b, `,"doc":`...)
	b = append(b, p.Doc...)
	b = append(b, `,"position":`...)
	b = strconv.AppendInt(b, e.Position, 10)
	b = append(b, `,"ts":"`...)
	b = e.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	ch.tail = append(b, `"}`...)
	return ch, true
}

// message is the change for one subscription (idJSON: its JSON-encoded id).
func (c *change) message(idJSON []byte) []byte {
	const head = `{"type":"change","id":`
	b := make([]byte, 0, len(head)+len(idJSON)+len(c.tail))
	b = append(b, head...)
	b = append(b, idJSON...)
	return append(b, c.tail...)
}

// Dispatch delivers a batch of committed events (in position order) to live
// subscribers. It is called from one goroutine (the bus subscription).
func (h *Hub) Dispatch(evs []eventstore.Event) {
	for _, e := range evs {
		h.pmu.Lock()
		seen := e.Position <= h.positions[e.AppID]
		if !seen {
			h.positions[e.AppID] = e.Position
		}
		h.pmu.Unlock()
		if seen {
			continue // already dispatched (a bus redelivery)
		}
		h.mu.RLock()
		conns := h.conns[e.AppID]
		targets := make([]*conn, 0, len(conns))
		for c := range conns {
			targets = append(targets, c)
		}
		h.mu.RUnlock()
		if len(targets) == 0 {
			continue // nobody of this app listens: nothing to decode
		}
		if ch, ok := h.decode(context.Background(), e); ok {
			for _, c := range targets {
				c.offer(ch)
			}
		}
	}
}

func (h *Hub) register(c *conn) {
	h.mu.Lock()
	m := h.conns[c.appID]
	if m == nil {
		m = map[*conn]struct{}{}
		h.conns[c.appID] = m
	}
	m[c] = struct{}{}
	h.mu.Unlock()
}

func (h *Hub) unregister(c *conn) {
	h.mu.Lock()
	if m := h.conns[c.appID]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(h.conns, c.appID)
		}
	}
	h.mu.Unlock()
}

// RefusedError is returned by an Authenticator for bad credentials; Reason
// goes to the client as the close reason.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return e.Reason }

// AuthFunc adapts a function to Authenticator.
type AuthFunc func(ctx context.Context, appID, apikey, token string) (*Principal, error)

// Authenticate implements Authenticator.
func (f AuthFunc) Authenticate(ctx context.Context, appID, apikey, token string) (*Principal, error) {
	return f(ctx, appID, apikey, token)
}

// Close tells every connection the server is going away (hijacked
// WebSockets are not closed by http.Server.Shutdown).
func (h *Hub) Close() {
	h.mu.RLock()
	var all []*conn
	for _, m := range h.conns {
		for c := range m {
			all = append(all, c)
		}
	}
	h.mu.RUnlock()
	for _, c := range all {
		c.closeWith(websocket.CloseGoingAway, "server shutting down")
	}
}
