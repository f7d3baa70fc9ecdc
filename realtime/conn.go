package realtime

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/query"
	"github.com/gorilla/websocket"
)

// Close codes sent to clients (4000-4999 are the application's).
const (
	CloseAuthRequired = 4401
	CloseForbidden    = 4403
	CloseSlowConsumer = 4008
)

type subscription struct {
	id         string
	idJSON     []byte // id encoded once, for every change message
	collection string
	filter     query.Expr
	live       bool
	last       int64     // last position delivered or skipped
	pending    []*change // live changes that arrived during catch-up
}

type conn struct {
	hub   *Hub
	ws    *websocket.Conn
	appID string
	send  chan []byte
	quit  chan struct{} // closed by closeLocked: send the close frame, drop the queue
	ctx   context.Context
	stop  context.CancelFunc

	mu        sync.Mutex
	principal *Principal
	expired   bool
	subs      map[string]*subscription
	closing   bool
	closeMsg  []byte
}

type clientMsg struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Collection string          `json:"collection"`
	Filter     json.RawMessage `json:"filter"`
	Since      *int64          `json:"since"`
	APIKey     string          `json:"apikey"`
	Token      string          `json:"token"`
}

// ServeWS upgrades the request and runs the connection. appID is "" for the
// urBackend dialect (the key names the app). Credentials come from the
// apikey and token query parameters or a first {"type":"auth"} message.
func (h *Hub) ServeWS(w http.ResponseWriter, r *http.Request, appID string) {
	ws, err := h.up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	ctx, stop := context.WithCancel(context.Background())
	c := &conn{hub: h, ws: ws, appID: appID, send: make(chan []byte, h.cfg.SendQueue), quit: make(chan struct{}), ctx: ctx, stop: stop, subs: map[string]*subscription{}}
	ws.SetReadLimit(h.cfg.MaxMessageBytes)
	h.connections.Add(1)
	defer h.connections.Add(-1)
	go c.writePump()
	q := r.URL.Query()
	if key, tok := q.Get("apikey"), q.Get("token"); key != "" || tok != "" {
		if !c.authenticate(key, tok) {
			c.wait()
			return
		}
	}
	c.readLoop()
	c.wait()
}

// wait blocks until the write pump has ended, then frees the connection.
func (c *conn) wait() {
	<-c.ctx.Done()
	c.hub.unregister(c)
	_ = c.ws.Close()
}

// authenticate checks credentials; on refusal it closes with a reason.
func (c *conn) authenticate(apikey, token string) bool {
	p, err := c.hub.auth.Authenticate(c.ctx, c.appID, apikey, token)
	if err != nil {
		c.closeWith(CloseAuthRequired, err.Error())
		return false
	}
	if p.AccessMode == domain.AccessAuthenticated && p.UserID == "" && !p.Privileged {
		c.closeWith(CloseAuthRequired, "Authentication required")
		return false
	}
	c.mu.Lock()
	first := c.principal == nil
	if !first && p.AppID != c.principal.AppID {
		c.mu.Unlock()
		c.closeWith(CloseForbidden, "credentials of another app")
		return false
	}
	c.principal, c.expired = p, false
	c.appID = p.AppID
	c.mu.Unlock()
	if first {
		c.hub.register(c)
	}
	c.enqueue(mustJSON(map[string]any{"type": "authenticated", "app_id": p.AppID, "user_id": nilIfEmpty(p.UserID)}))
	return true
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (c *conn) readLoop() {
	for {
		_, raw, err := c.ws.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.closeWith(websocket.CloseMessageTooBig, "message too large")
				return
			}
			c.stop()
			return
		}
		var m clientMsg
		if err := json.Unmarshal(raw, &m); err != nil {
			c.sendError("", "invalid message: not JSON")
			continue
		}
		c.mu.Lock()
		anonymous := c.principal == nil && m.Type != "auth"
		c.mu.Unlock()
		// In the native dialect the app is in the path and a connection
		// without credentials is anonymous (publishable-key rights).
		if anonymous && c.appID != "" && !c.authenticate("", "") {
			return
		}
		switch m.Type {
		case "auth":
			if !c.authenticate(m.APIKey, m.Token) {
				return
			}
		case "subscribe":
			c.subscribe(m)
		case "unsubscribe":
			c.mu.Lock()
			_, ok := c.subs[m.ID]
			delete(c.subs, m.ID)
			c.mu.Unlock()
			if ok {
				c.enqueue(mustJSON(map[string]any{"type": "unsubscribed", "id": m.ID}))
			} else {
				c.sendError(m.ID, "unknown subscription")
			}
		case "ping":
			c.enqueue([]byte(`{"type":"pong"}`))
		default:
			c.sendError(m.ID, "unknown message type")
		}
	}
}

func (c *conn) sendError(id, msg string) {
	c.enqueue(mustJSON(map[string]any{"type": "error", "id": id, "error": msg}))
}

func (c *conn) access() (domain.Access, *Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.principal
	if p == nil {
		return domain.Access{}, nil, false
	}
	return domain.Access{Privileged: p.Privileged, UserID: p.UserID}, p, true
}

func (c *conn) subscribe(m clientMsg) {
	acc, p, ok := c.access()
	if !ok {
		c.sendError(m.ID, "Authentication required")
		return
	}
	if m.ID == "" || len(m.ID) > 128 {
		c.sendError(m.ID, "subscription id is required (at most 128 characters)")
		return
	}
	if err := domain.ValidateCollectionName(m.Collection); err != nil {
		c.sendError(m.ID, err.Error())
		return
	}
	var filter query.Expr
	if len(m.Filter) > 0 && string(m.Filter) != "null" {
		f, err := query.Parse(m.Filter)
		if err != nil {
			c.sendError(m.ID, err.Error())
			return
		}
		filter = f
	}
	coll, err := c.hub.colls.Collection(c.ctx, p.AppID, m.Collection)
	if err != nil {
		c.sendError(m.ID, "collection unavailable")
		return
	}
	if !coll.Exists() {
		c.sendError(m.ID, "Collection not found")
		return
	}
	if _, err := coll.ReadScope(acc); err != nil {
		c.sendError(m.ID, err.Error())
		return
	}
	c.mu.Lock()
	if _, dup := c.subs[m.ID]; dup {
		c.mu.Unlock()
		c.sendError(m.ID, "subscription id already in use")
		return
	}
	if len(c.subs) >= c.hub.cfg.MaxSubscriptions {
		c.mu.Unlock()
		c.sendError(m.ID, "too many subscriptions on this connection")
		return
	}
	s := &subscription{id: m.ID, idJSON: mustJSON(m.ID), collection: m.Collection, filter: filter}
	if m.Since == nil {
		// Live from the projections' head: everything after it will be
		// dispatched; anything up to it that is still in flight is skipped.
		s.live, s.last = true, max(c.hub.head(p.AppID), c.hub.position(p.AppID))
	} else {
		s.last = max(*m.Since, 0)
	}
	c.subs[m.ID] = s
	c.mu.Unlock()
	c.enqueue(mustJSON(map[string]any{"type": "subscribed", "id": m.ID, "position": s.last}))
	if !s.live {
		go c.catchUp(s)
	}
}

// catchUp replays the log after s.last for a resumed subscription, then
// switches it to live. Live changes dispatched meanwhile wait in s.pending;
// anything at or below s.last is skipped, so nothing is sent twice and,
// since Read is gap-safe, nothing is missed.
func (c *conn) catchUp(s *subscription) {
	q := eventstore.Query{AppID: c.appID, After: s.last, Limit: 500,
		Types: []string{domain.EventDocumentCreated, domain.EventDocumentUpdated, domain.EventDocumentDeleted}}
	for {
		evs, err := c.hub.events.Read(c.ctx, q)
		if err != nil {
			if c.ctx.Err() == nil {
				c.sendError(s.id, "resume failed: the event store is unavailable")
				c.mu.Lock()
				delete(c.subs, s.id)
				c.mu.Unlock()
			}
			return
		}
		c.mu.Lock()
		if c.subs[s.id] != s {
			c.mu.Unlock()
			return // unsubscribed
		}
		if len(evs) == 0 {
			for _, ch := range s.pending {
				c.deliverLocked(s, ch)
			}
			s.pending, s.live = nil, true
			c.mu.Unlock()
			return
		}
		for _, e := range evs {
			if ch, ok := c.hub.decode(c.ctx, e); ok {
				c.deliverLocked(s, ch)
			}
		}
		c.mu.Unlock()
		q.After = evs[len(evs)-1].Position
	}
}

// offer hands a live change to the connection's subscriptions.
func (c *conn) offer(ch *change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.subs {
		if s.collection != ch.collection {
			continue
		}
		if !s.live {
			if len(s.pending) >= c.hub.cfg.MaxPending {
				c.closeLocked(CloseSlowConsumer, "resume could not keep up")
				return
			}
			s.pending = append(s.pending, ch)
			continue
		}
		c.deliverLocked(s, ch)
	}
}

// deliverLocked sends ch to s if it is new to s and the subscriber may read it.
func (c *conn) deliverLocked(s *subscription, ch *change) {
	if ch.ev.Position <= s.last || ch.collection != s.collection {
		return
	}
	s.last = ch.ev.Position
	p := c.principal
	if p == nil {
		return
	}
	if !p.Expires.IsZero() && time.Now().After(p.Expires) {
		if !c.expired {
			c.expired = true
			c.enqueueLocked(mustJSON(map[string]any{"type": "error", "id": "", "error": "token expired: send {\"type\":\"auth\"} with a new token"}))
		}
		return
	}
	if ch.coll == nil {
		return
	}
	scope, err := ch.coll.ReadScope(domain.Access{Privileged: p.Privileged, UserID: p.UserID})
	if err != nil || !scope.Allows(ch.doc) {
		return
	}
	if s.filter != nil && !query.Match(s.filter, ch.doc) {
		return
	}
	c.enqueueLocked(ch.message(s.idJSON))
}

func (c *conn) enqueue(b []byte) {
	c.mu.Lock()
	c.enqueueLocked(b)
	c.mu.Unlock()
}

// enqueueLocked queues a message; a full queue means the client cannot keep
// up, and it is cut off rather than allowed to stall the hub.
func (c *conn) enqueueLocked(b []byte) {
	if c.closing {
		return
	}
	select {
	case c.send <- b:
	default:
		c.closeLocked(CloseSlowConsumer, "slow consumer: send queue full")
	}
}

func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	c.closeLocked(code, reason)
	c.mu.Unlock()
}

// closeLocked asks the write pump to send a close frame and end.
func (c *conn) closeLocked(code int, reason string) {
	if c.closing {
		return
	}
	c.closing = true
	if len(reason) > 120 {
		reason = reason[:120]
	}
	c.closeMsg = websocket.FormatCloseMessage(code, reason)
	// The pump sends the close frame right after what it is writing now
	// (for a client that stopped reading: once it drains, or the write
	// deadline passes) and drops whatever is still queued.
	close(c.quit)
}

// writePump is the only writer of the socket.
func (c *conn) writePump() {
	defer func() {
		c.stop()
		// Let the read loop see the client's close reply, or give up soon.
		_ = c.ws.SetReadDeadline(time.Now().Add(time.Second))
	}()
	ping := time.NewTicker(c.hub.cfg.PingInterval)
	defer ping.Stop()
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(2 * c.hub.cfg.PingInterval))
	})
	_ = c.ws.SetReadDeadline(time.Now().Add(2 * c.hub.cfg.PingInterval))
	sendClose := func() {
		c.mu.Lock()
		msg := c.closeMsg
		c.mu.Unlock()
		_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.hub.cfg.WriteTimeout))
	}
	for {
		select {
		case <-c.quit: // takes priority over queued messages
			sendClose()
			return
		default:
		}
		select {
		case <-c.quit:
			sendClose()
			return
		case b := <-c.send:
			_ = c.ws.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.hub.cfg.WriteTimeout)); err != nil {
				return
			}
			c.checkExpiry()
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *conn) checkExpiry() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.principal; p != nil && !p.Expires.IsZero() && time.Now().After(p.Expires) && !c.expired {
		c.expired = true
		c.enqueueLocked(mustJSON(map[string]any{"type": "error", "id": "", "error": "token expired: send {\"type\":\"auth\"} with a new token"}))
	}
}
