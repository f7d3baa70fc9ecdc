package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	esmongo "github.com/eventbase/eventbase/eventstore/mongo"
	"github.com/eventbase/eventbase/projections"
	"github.com/eventbase/eventbase/readstore"
	rsmongo "github.com/eventbase/eventbase/readstore/mongo"
	"github.com/eventbase/eventbase/secret"
	"golang.org/x/sync/singleflight"
)

// A cell is one event log and what is built from it: read models, the
// projection runner, the mail and hook workers. Positions are per cell.
// The default cell holds the system streams, every app's own "app" stream
// (the registry and configuration) and all apps that use the node's store;
// an app that brings its own MongoDB has a cell there, with everything else
// of that app: collections, documents, users, tokens, claims.
type cell struct {
	events  eventstore.Store
	reads   readstore.Store
	runner  *projections.Runner
	workers *workers
	close   func() error // what the cell opened; nil for the default cell
}

// uriSealContext binds sealed MongoDB URIs to their use.
const uriSealContext = "app-mongodb-uri"

// cells routes apps to their cell, opening the cells of apps that bring
// their own MongoDB on first use and running them until close.
type cells struct {
	cfg    Config
	def    *cell
	apps   *projections.Apps
	sealer *secret.Sealer
	// setup registers a new cell's listeners and workers on its runner,
	// before the runner applies anything.
	setup func(c *cell, suffix string)
	wrap  func(eventstore.Store) eventstore.Store // multi-node announcing, or nil
	// passive cells are opened and caught up but not run (replay).
	passive bool

	ctx    context.Context // the node's lifetime
	cancel context.CancelFunc
	wg     sync.WaitGroup
	open   singleflight.Group

	mu    sync.Mutex
	byApp map[string]*cell // nil value: the app lives in the default cell
}

func newCells(cfg Config, def *cell, apps *projections.Apps, sealer *secret.Sealer) *cells {
	ctx, cancel := context.WithCancel(context.Background())
	return &cells{cfg: cfg, def: def, apps: apps, sealer: sealer, ctx: ctx, cancel: cancel, byApp: map[string]*cell{}}
}

// forApp returns the cell of an app. An app unknown to the registry is in
// the default cell: transport only acts on registered apps.
func (cs *cells) forApp(ctx context.Context, appID string) (*cell, error) {
	if appID == "" || appID == domain.SystemApp {
		return cs.def, nil
	}
	cs.mu.Lock()
	c, ok := cs.byApp[appID]
	cs.mu.Unlock()
	if ok {
		if c == nil {
			return cs.def, nil
		}
		return c, nil
	}
	app, err := cs.apps.ByID(ctx, appID)
	if errors.Is(err, domain.ErrNotFound) {
		return cs.def, nil
	}
	if err != nil {
		return nil, err
	}
	if app.MongoURISealed == "" {
		cs.mu.Lock()
		cs.byApp[appID] = nil
		cs.mu.Unlock()
		return cs.def, nil
	}
	v, err, _ := cs.open.Do(appID, func() (any, error) { return cs.openApp(appID, app.MongoURISealed) })
	if err != nil {
		return nil, err
	}
	return v.(*cell), nil
}

// forStream returns the cell of an app's stream: an app's own "app" stream
// stays in the default cell, where the registry is built.
func (cs *cells) forStream(ctx context.Context, appID, streamID string) (*cell, error) {
	if streamID == domain.AppStream {
		return cs.def, nil
	}
	return cs.forApp(ctx, appID)
}

func (cs *cells) openApp(appID, sealed string) (*cell, error) {
	cs.mu.Lock()
	if c := cs.byApp[appID]; c != nil {
		cs.mu.Unlock()
		return c, nil
	}
	cs.mu.Unlock()
	if cs.ctx.Err() != nil {
		return nil, errors.New("the node is shutting down")
	}
	uri, err := cs.sealer.Open(sealed, uriSealContext)
	if err != nil {
		return nil, fmt.Errorf("app %s: cannot open its MongoDB URI (was the master key changed?): %w", appID, err)
	}
	ctx, cancel := context.WithTimeout(cs.ctx, 30*time.Second)
	defer cancel()
	c, err := openAppCell(ctx, string(uri))
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", appID, err)
	}
	if cs.wrap != nil {
		c.events = cs.wrap(c.events)
	}
	c.runner = projections.NewRunner(c.events, c.reads, cs.cfg.Log, projections.All()...)
	cs.setup(c, "."+appID)
	if _, err := c.runner.CatchUp(ctx, nil); err != nil {
		c.close()
		return nil, fmt.Errorf("app %s: catching up its read models: %w", appID, err)
	}
	if !cs.passive {
		cs.wg.Add(2)
		go func() { defer cs.wg.Done(); _ = c.runner.Run(cs.ctx) }()
		done := c.workers.run(cs.ctx)
		go func() { defer cs.wg.Done(); <-done }()
	}
	cs.mu.Lock()
	cs.byApp[appID] = c
	cs.mu.Unlock()
	cs.cfg.Log.Info("opened the app's own MongoDB", "app_id", appID)
	return c, nil
}

// openAppCell opens the stores of an app's own MongoDB: the read models in
// the URI's database (default "eventbase"), next to the app's own data,
// and the log in "<database>_log", so no user collection can collide with it.
func openAppCell(ctx context.Context, uri string) (*cell, error) {
	db := "eventbase"
	if u, err := url.Parse(uri); err == nil {
		if p := strings.Trim(u.Path, "/"); p != "" {
			db = p
		}
	}
	events, err := esmongo.Open(ctx, uri, db+"_log")
	if err != nil {
		return nil, err
	}
	reads, err := rsmongo.Open(ctx, uri, db, rsmongo.WithDatabase(func(string) string { return db }))
	if err != nil {
		events.Close()
		return nil, err
	}
	return &cell{events: events, reads: reads, close: func() error { return errors.Join(reads.Close(), events.Close()) }}, nil
}

// opened returns the cells of apps with their own MongoDB opened so far.
func (cs *cells) opened() []*cell {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var out []*cell
	for _, c := range cs.byApp {
		if c != nil {
			out = append(out, c)
		}
	}
	return out
}

// nudge wakes every runner (another node appended).
func (cs *cells) nudge() {
	cs.def.runner.Nudge()
	for _, c := range cs.opened() {
		c.runner.Nudge()
	}
}

// WaitFor implements commands.Waiter: it waits on the runner of the cell
// that holds the event.
func (cs *cells) WaitFor(ctx context.Context, last eventstore.Event) error {
	c, err := cs.forStream(ctx, last.AppID, last.StreamID)
	if err != nil {
		return err
	}
	return c.runner.WaitForPosition(ctx, last.Position)
}

// head returns the projections' position in the app's cell (realtime).
func (cs *cells) head(appID string) int64 {
	c, err := cs.forApp(cs.ctx, appID)
	if err != nil {
		return 0
	}
	return c.runner.Position()
}

// eventsRouter and readsRouter route by app over the cells.
func (cs *cells) eventsRouter() *eventstore.Router {
	return &eventstore.Router{Default: cs.def.events, For: func(ctx context.Context, appID, streamID string) (eventstore.Store, error) {
		c, err := cs.forStream(ctx, appID, streamID)
		if err != nil || c == cs.def {
			return nil, err
		}
		return c.events, nil
	}}
}

func (cs *cells) readsRouter() *readstore.Router {
	return &readstore.Router{Store: cs.def.reads, For: func(ctx context.Context, app string) (readstore.Store, error) {
		c, err := cs.forApp(ctx, app)
		if err != nil || c == cs.def {
			return nil, err
		}
		return c.reads, nil
	}}
}

// openOnCreate opens the cell of an app created with its own MongoDB as
// soon as its creation is applied, so its workers run without waiting for
// a first request. Register with the default runner's OnApplied.
func (cs *cells) openOnCreate(evs []eventstore.Event) {
	for _, e := range evs {
		if e.Type != domain.EventAppCreated {
			continue
		}
		var p domain.AppCreatedPayload
		if json.Unmarshal(e.Payload, &p) != nil || p.MongoURISealed == "" {
			continue
		}
		appID := e.AppID
		cs.wg.Add(1)
		go func() {
			defer cs.wg.Done()
			if _, err := cs.forApp(cs.ctx, appID); err != nil && cs.ctx.Err() == nil {
				cs.cfg.Log.Error("opening the app's own MongoDB failed; retried on its next request", "app_id", appID, "err", err)
			}
		}()
	}
}

// rebuildApp rebuilds one app's read models on a live node, in its cell.
func (cs *cells) rebuildApp(ctx context.Context, appID string) (*projections.RebuildResult, error) {
	c, err := cs.forApp(ctx, appID)
	if err != nil {
		return nil, err
	}
	return projections.RebuildApp(ctx, c.events, c.reads, c.runner, appID)
}

// close stops the runners and workers of every opened cell and closes
// their stores.
func (cs *cells) close() error {
	cs.cancel()
	cs.wg.Wait()
	var errs []error
	for _, c := range cs.opened() {
		errs = append(errs, c.close())
	}
	return errors.Join(errs...)
}
