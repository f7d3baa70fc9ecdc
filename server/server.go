// Package server assembles one eventbase node from its configuration: it
// opens the event store and read models (embedded SQLite in a data
// directory, or MongoDB), holds the data directory's lock, runs the
// projections, and serves HTTP until told to stop. cmd/eventbase only turns
// flags and environment into a Config.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/eventbase/eventbase/bus"
	"github.com/eventbase/eventbase/commands"
	"github.com/eventbase/eventbase/eventstore"
	essqlite "github.com/eventbase/eventbase/eventstore/sqlite"
	"github.com/eventbase/eventbase/projections"
	"github.com/eventbase/eventbase/readstore"
	rssqlite "github.com/eventbase/eventbase/readstore/sqlite"
	"github.com/eventbase/eventbase/realtime"
	"github.com/eventbase/eventbase/secret"
	"github.com/eventbase/eventbase/transport"
)

// Config is everything a node is configured with.
type Config struct {
	Addr         string // listen address, default 127.0.0.1:8090
	DataDir      string // embedded store directory, default ./eb_data
	Sync         string // fsync policy of the embedded log: "full" (default) or "normal"
	MongoURI     string // when set, events and read models live in MongoDB
	MongoDB      string // database name in MongoDB, default "eventbase"
	PublicURL    string
	SMTPURL      string
	NATSURL      string
	RateLimits   bool
	MaxBodyBytes int64
	LogRequests  bool
	AdminSecret  string // signs admin tokens; default: a key file in DataDir
	// Realtime bounds WebSocket connections (zero values: the hub's defaults).
	Realtime realtime.Config
	// MasterKey (EVENTBASE_MASTER_KEY, ≥ 32 characters) seals token signing
	// keys and mailed codes in the log; default: a key file in DataDir.
	MasterKey string
	// RateLimitWindow replaces the auth rate limits' 15-minute window (tests).
	RateLimitWindow time.Duration
	// TrustedProxies (addresses or CIDRs) may set X-Forwarded-For.
	TrustedProxies []string
	// MailFrom is the sender of auth e-mails over SMTP.
	MailFrom string
	// HookRetryMin is the first back-off of post-auth hook retries (default 1 s).
	HookRetryMin time.Duration
	// Now is the clock of commands and tokens (tests); nil is time.Now.
	Now func() time.Time
	Log *slog.Logger
}

func (c *Config) defaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8090"
	}
	if c.DataDir == "" {
		c.DataDir = "eb_data"
	}
	if c.MongoDB == "" {
		c.MongoDB = "eventbase"
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Stores are the opened event store and read models of a node.
type Stores struct {
	Events eventstore.Store
	Reads  readstore.Store
	lock   *os.File
	// closers run first on Close (the multi-node bus).
	closers []func() error
}

// announcing tells the other nodes about each append this node makes.
type announcing struct {
	eventstore.Store
	nudges *bus.Nudges
}

func (s announcing) Append(ctx context.Context, a eventstore.Append) ([]eventstore.Event, error) {
	evs, err := s.Store.Append(ctx, a)
	if err == nil {
		s.nudges.Announce(evs[len(evs)-1].Position)
	}
	return evs, err
}

// Close closes both stores and releases the data directory.
func (s *Stores) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c())
	}
	if s.Reads != nil {
		errs = append(errs, s.Reads.Close())
	}
	if s.Events != nil {
		errs = append(errs, s.Events.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close())
	}
	return errors.Join(errs...)
}

// OpenEvents opens only the event store, without taking the data directory's
// lock: commands such as `apps create` may run beside a serving node.
func OpenEvents(ctx context.Context, cfg Config) (eventstore.Store, error) {
	cfg.defaults()
	if cfg.MongoURI != "" {
		return openMongoEvents(ctx, cfg)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	sync := essqlite.Sync(cfg.Sync)
	if sync == "" {
		sync = essqlite.SyncFull
	}
	s, err := essqlite.OpenSync(filepath.Join(cfg.DataDir, "events.db"), sync)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return s, nil
}

// OpenStores opens the event store and read models for exclusive use by this
// process (serve, replay). A second process on the same data directory gets
// a clear error.
func OpenStores(ctx context.Context, cfg Config) (*Stores, error) {
	cfg.defaults()
	st := &Stores{}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	lock, err := lockDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	st.lock = lock
	if st.Events, err = OpenEvents(ctx, cfg); err != nil {
		st.Close()
		return nil, err
	}
	if cfg.MongoURI != "" {
		st.Reads, err = openMongoReads(ctx, cfg)
	} else {
		var rs *rssqlite.Store
		if rs, err = rssqlite.Open(filepath.Join(cfg.DataDir, "readmodels.db")); err == nil {
			st.Reads = rs
		}
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// lockDir takes an exclusive advisory lock on dir/LOCK, held until the file
// is closed (or the process dies).
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another eventbase process (serve or replay); stop it first", dir)
	}
	return f, nil
}

// Projections returns the runner with every projection of eventbase.
func Projections(st *Stores, log *slog.Logger) (*projections.Runner, *projections.Apps) {
	apps := projections.NewApps(st.Reads)
	r := projections.NewRunner(st.Events, st.Reads, log, projections.All()...)
	r.OnApplied(apps.Invalidate)
	return r, apps
}

// Node is a running eventbase server.
type Node struct {
	cfg     Config
	stores  *Stores
	runner  *projections.Runner
	cmd     *commands.Service
	API     *transport.API
	Hub     *realtime.Hub
	bus     *bus.Bus
	stopBus context.CancelFunc
	ln      net.Listener
	srv     *http.Server
	auth    *authParts
	cells   *cells
}

// Open opens the stores, catches the projections up and builds the API. It
// does not listen yet.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	cfg.defaults()
	st, err := OpenStores(ctx, cfg)
	if err != nil {
		return nil, err
	}
	n, err := open(ctx, cfg, st)
	if err != nil {
		if n != nil && n.cells != nil {
			n.cells.close()
		}
		st.Close()
		return nil, err
	}
	return n, nil
}

func open(ctx context.Context, cfg Config, st *Stores) (*Node, error) {
	var nudges *bus.Nudges
	var err error
	if cfg.NATSURL != "" {
		// Multi-node: tell the other nodes when this one appends, and read
		// the store as soon as they say they did.
		if nudges, err = bus.NewNATSNudges(cfg.NATSURL, secret.HexID(6), cfg.Log); err != nil {
			return nil, err
		}
		st.closers = append(st.closers, nudges.Close)
		st.Events = announcing{st.Events, nudges}
	}
	runner, apps := Projections(st, cfg.Log)
	def := &cell{events: st.Events, reads: st.Reads, runner: runner}
	if _, err := runner.CatchUp(ctx, nil); err != nil {
		return nil, fmt.Errorf("catching up read models: %w", err)
	}
	adminSecret, err := loadAdminSecret(cfg)
	if err != nil {
		return nil, err
	}
	// Commands write through a router over the cells: an app that brings
	// its own MongoDB has its log there.
	cmd := commands.New(st.Events, runner) // both replaced by the cell routers below
	auth, err := openAuth(cfg, cmd, apps)
	if err != nil {
		return nil, err
	}
	cs := newCells(cfg, def, apps, auth.sealer)
	n := &Node{cfg: cfg, stores: st, runner: runner, cmd: cmd, auth: auth, cells: cs}
	events, reads := cs.eventsRouter(), cs.readsRouter()
	cmd.Events, cmd.Projections = events, cs
	if nudges != nil {
		cs.wrap = func(s eventstore.Store) eventstore.Store { return announcing{s, nudges} }
		if err := nudges.Subscribe(cs.ctx, func(int64) { cs.nudge() }); err != nil {
			return n, err
		}
	}

	// Committed events reach the realtime hub through the bus, after the
	// projections of their cell applied them. The hub subscribes before any
	// runner starts following, so it misses nothing after the catch-up.
	b := bus.NewInProcess(cfg.Log)
	var api *transport.API
	hub := realtime.New(cfg.Realtime, events, cs.head, realtime.AuthFunc(func(ctx context.Context, appID, key, tok string) (*realtime.Principal, error) {
		return api.RealtimeAuth().Authenticate(ctx, appID, key, tok)
	}), cmd, cfg.Log)
	busCtx, stopBus := context.WithCancel(context.Background())
	if err := b.Subscribe(busCtx, hub.Dispatch); err != nil {
		stopBus()
		return n, err
	}
	n.Hub, n.bus, n.stopBus = hub, b, stopBus
	cs.setup = func(c *cell, suffix string) {
		c.runner.OnApplied(cmd.InvalidateCollections)
		c.runner.OnApplied(projections.IndexCollections(c.reads, func(err error) { cfg.Log.Warn("creating read-model index failed", "err", err) }))
		c.workers = auth.workers(c, suffix)
		c.runner.OnApplied(b.Publish)
	}
	cs.setup(def, "")
	runner.OnApplied(cs.openOnCreate)

	api = transport.New(transport.Config{MaxBodyBytes: cfg.MaxBodyBytes, LogRequests: cfg.LogRequests, AdminSecret: adminSecret},
		transport.Deps{Commands: cmd, Events: events, Reads: reads, Rebuild: cs.rebuildApp, Apps: apps, Hub: hub, Log: cfg.Log, Ready: runner.Healthy,
			Tokens: auth.tokens, Auth: auth.deps})
	n.API = api
	return n, nil
}

// Commands returns the node's command service (tests and tools).
func (n *Node) Commands() *commands.Service { return n.cmd }

// loadAdminSecret returns the key that signs admin tokens: the configured
// one, or a random key kept in the data directory so tokens survive restarts.
func loadAdminSecret(cfg Config) ([]byte, error) {
	if cfg.AdminSecret != "" {
		if len(cfg.AdminSecret) < 32 {
			return nil, errors.New("EVENTBASE_ADMIN_SECRET must be at least 32 characters")
		}
		return []byte(cfg.AdminSecret), nil
	}
	p := filepath.Join(cfg.DataDir, "admin.key")
	if b, err := os.ReadFile(p); err == nil && len(b) >= 32 {
		return b, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", p, err)
	}
	return b, nil
}

// Listen binds the configured address.
func (n *Node) Listen() error {
	ln, err := net.Listen("tcp", n.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", n.cfg.Addr, err)
	}
	n.ln = ln
	return nil
}

// Addr returns the bound address (after Listen).
func (n *Node) Addr() string { return n.ln.Addr().String() }

// Serve runs the node until ctx ends, then shuts down gracefully: it stops
// accepting, drains in-flight requests (up to 15 s), stops the projections
// and closes the stores (which commits every queued append).
func (n *Node) Serve(ctx context.Context) error {
	if n.ln == nil {
		if err := n.Listen(); err != nil {
			n.cells.close()
			n.stores.Close()
			return err
		}
	}
	rctx, stopRunner := context.WithCancel(context.Background())
	runnerDone := make(chan struct{})
	go func() {
		defer close(runnerDone)
		_ = n.runner.Run(rctx)
	}()
	mailDone := n.cells.def.workers.run(rctx)
	n.srv = &http.Server{Handler: n.API.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(n.cfg.Log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- n.srv.Serve(n.ln) }()
	n.cfg.Log.Info("eventbase serving", "addr", n.Addr(), "store", n.storeName())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	n.Hub.Close()
	if e := n.srv.Shutdown(sctx); e != nil && err == nil {
		err = e
	}
	stopRunner()
	<-runnerDone
	<-mailDone
	if e := n.cells.close(); e != nil && err == nil {
		err = e
	}
	n.stopBus()
	_ = n.bus.Close()
	if e := n.stores.Close(); e != nil && err == nil {
		err = e
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	n.cfg.Log.Info("eventbase stopped")
	return err
}

func (n *Node) storeName() string {
	if n.cfg.MongoURI != "" {
		return "mongodb"
	}
	return "sqlite:" + n.cfg.DataDir
}
