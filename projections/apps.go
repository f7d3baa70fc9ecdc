package projections

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/internal/cache"
	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
)

// Read-model namespaces of system-wide data.
var (
	NSApps   = readstore.NS{Coll: "apps"}
	NSAdmins = readstore.NS{Coll: "admins"}
)

// AppsProjection keeps one document per app in NSApps.
type AppsProjection struct{}

// Name implements Projection.
func (AppsProjection) Name() string { return "apps@1" }

// Apply implements Projection.
func (AppsProjection) Apply(w readstore.Writer, e eventstore.Event) error {
	if e.StreamID != domain.AppStream || e.AppID == domain.SystemApp {
		return nil
	}
	var app domain.App
	if e.Type != domain.EventAppCreated {
		doc, err := w.Get(NSApps, e.AppID)
		if errors.Is(err, readstore.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fromDoc(doc, &app); err != nil {
			return err
		}
	}
	app.ID = e.AppID
	if err := app.Apply(e.Type, e.Payload, e.Time); err != nil {
		return err
	}
	app.Version = e.Version
	doc, err := toDoc(app)
	if err != nil {
		return err
	}
	doc["_id"] = e.AppID
	doc["_version"] = float64(e.Version)
	return w.Put(NSApps, doc)
}

// AdminsProjection keeps one document per dashboard admin in NSAdmins.
type AdminsProjection struct{}

// Name implements Projection.
func (AdminsProjection) Name() string { return "admins@1" }

// Apply implements Projection.
func (AdminsProjection) Apply(w readstore.Writer, e eventstore.Event) error {
	if e.AppID != domain.SystemApp || (e.Type != domain.EventAdminCreated && e.Type != domain.EventAdminPasswordReset) {
		return nil
	}
	var p domain.AdminCreatedPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return err
	}
	return w.Put(NSAdmins, readstore.Doc{"_id": p.Email, "email": p.Email, "password_hash": p.PasswordHash, "_version": float64(e.Version)})
}

func toDoc(v any) (readstore.Doc, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var doc readstore.Doc
	return doc, json.Unmarshal(raw, &doc)
}

func fromDoc(doc readstore.Doc, v any) error {
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// Apps answers queries about apps, with an in-memory cache in front of the
// read model: every request resolves its app, so this is a hot path. The
// runner invalidates entries as app events are applied.
type Apps struct {
	reads readstore.Store
	// cache maps "id:<app id>", "key:<publishable key>" and
	// "key:<secret key hash>" to the app.
	cache *cache.Cache[*domain.App]
}

// NewApps returns the app queries over reads; call Invalidate from the runner.
func NewApps(reads readstore.Store) *Apps {
	return &Apps{reads: reads, cache: cache.New[*domain.App]()}
}

// Invalidate drops cached apps touched by evs. Register it with Runner.OnApplied.
func (a *Apps) Invalidate(evs []eventstore.Event) {
	for _, e := range evs {
		if e.StreamID != domain.AppStream {
			continue
		}
		keys := []string{"id:" + e.AppID}
		if app, ok := a.cache.Get("id:" + e.AppID); ok {
			keys = append(keys, "key:"+app.PublishableKey, "key:"+app.SecretKeyHash)
		}
		a.cache.Invalidate(keys...)
	}
}

// ByID returns the app, or domain.ErrNotFound.
func (a *Apps) ByID(ctx context.Context, id string) (*domain.App, error) {
	if app, ok := a.cache.Get("id:" + id); ok {
		return app, nil
	}
	gen := a.cache.Gen()
	doc, err := a.reads.Get(ctx, NSApps, id)
	if errors.Is(err, readstore.ErrNotFound) {
		return nil, domain.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return a.remember(gen, doc)
}

// ByKey returns the app whose publishable key is key, or whose secret key
// hashes to hash; domain.ErrNotFound otherwise.
func (a *Apps) ByKey(ctx context.Context, field, value string) (*domain.App, error) {
	if app, ok := a.cache.Get("key:" + value); ok {
		return app, nil
	}
	gen := a.cache.Gen()
	f, err := query.ParseMap(map[string]any{field: value})
	if err != nil {
		return nil, err
	}
	docs, err := a.reads.Find(ctx, NSApps, readstore.Find{Filter: f, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, domain.ErrNotFound
	}
	return a.remember(gen, docs[0])
}

// List returns every app, oldest first.
func (a *Apps) List(ctx context.Context) ([]*domain.App, error) {
	docs, err := a.reads.Find(ctx, NSApps, readstore.Find{Sort: []query.SortField{{Field: "created_at"}}})
	if err != nil {
		return nil, err
	}
	out := make([]*domain.App, 0, len(docs))
	for _, d := range docs {
		var app domain.App
		if err := fromDoc(d, &app); err != nil {
			return nil, err
		}
		out = append(out, &app)
	}
	return out, nil
}

func (a *Apps) remember(gen uint64, doc readstore.Doc) (*domain.App, error) {
	var app domain.App
	if err := fromDoc(doc, &app); err != nil {
		return nil, err
	}
	if v, ok := doc["_version"].(float64); ok {
		app.Version = int64(v)
	}
	a.cache.Fill(gen, &app, "id:"+app.ID, "key:"+app.PublishableKey, "key:"+app.SecretKeyHash)
	return &app, nil
}

// Admin returns the admin's password hash, or domain.ErrNotFound.
func Admin(ctx context.Context, reads readstore.Store, email string) (passwordHash string, err error) {
	doc, err := reads.Get(ctx, NSAdmins, email)
	if errors.Is(err, readstore.ErrNotFound) {
		return "", domain.ErrNotFound
	}
	if err != nil {
		return "", err
	}
	h, _ := doc["password_hash"].(string)
	return h, nil
}
