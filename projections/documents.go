package projections

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
)

// CollectionsNS holds one definition document per collection of an app.
func CollectionsNS(app string) readstore.NS { return readstore.NS{App: app, Coll: "_collections"} }

// DocumentsNS is the read model of one user collection.
func DocumentsNS(app, coll string) readstore.NS { return readstore.NS{App: app, Coll: coll} }

// DocumentsProjection keeps each collection's live documents.
type DocumentsProjection struct{}

// Name implements Projection.
func (DocumentsProjection) Name() string { return "documents@1" }

// Apply implements Projection. Events carry the resulting document, so this
// is an idempotent upsert or delete.
func (DocumentsProjection) Apply(w readstore.Writer, e eventstore.Event) error {
	switch e.Type {
	case domain.EventDocumentCreated, domain.EventDocumentUpdated, domain.EventDocumentDeleted:
	default:
		return nil
	}
	var p domain.DocumentPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return err
	}
	ns := DocumentsNS(e.AppID, p.Collection)
	if e.Type == domain.EventDocumentDeleted {
		return w.Delete(ns, p.ID)
	}
	return w.Put(ns, p.Doc)
}

// CollectionsProjection keeps each collection's definition.
type CollectionsProjection struct{}

// Name implements Projection.
func (CollectionsProjection) Name() string { return "collections@1" }

// Apply implements Projection.
func (CollectionsProjection) Apply(w readstore.Writer, e eventstore.Event) error {
	if e.Type != domain.EventCollectionDefined {
		return nil
	}
	var c domain.Collection
	if err := json.Unmarshal(e.Payload, &c); err != nil {
		return err
	}
	doc, err := toDoc(c)
	if err != nil {
		return err
	}
	doc["_id"] = c.Name
	return w.Put(CollectionsNS(e.AppID), doc)
}

// IndexCollections creates read-model indexes for declared fields once
// their definition is applied. Register with Runner.OnApplied: the DDL runs
// after the batch committed (definitions are rare), on the runner's
// goroutine, so nothing outlives the runner.
func IndexCollections(reads readstore.Store, log func(error)) func([]eventstore.Event) {
	return func(evs []eventstore.Event) {
		ctx := context.Background()
		for _, e := range evs {
			if e.Type != domain.EventCollectionDefined {
				continue
			}
			var c domain.Collection
			if err := json.Unmarshal(e.Payload, &c); err != nil {
				continue
			}
			ns := DocumentsNS(e.AppID, c.Name)
			fields := []string{domain.FieldCreatedAt, c.RLS.Owner()}
			for _, f := range c.Fields {
				if f.Type != "object" && f.Type != "array" {
					fields = append(fields, f.Name)
				}
			}
			for _, f := range fields {
				if f == "_id" {
					continue
				}
				if err := reads.EnsureIndex(ctx, ns, f); err != nil && log != nil {
					log(err)
				}
			}
		}
	}
}

// Documents answers document queries from the read model.
type Documents struct{ Reads readstore.Store }

// Collections lists an app's defined collections.
func (d Documents) Collections(ctx context.Context, app string) ([]domain.Collection, error) {
	docs, err := d.Reads.Find(ctx, CollectionsNS(app), readstore.Find{Sort: []query.SortField{{Field: "_id"}}})
	if err != nil {
		return nil, err
	}
	out := make([]domain.Collection, 0, len(docs))
	for _, doc := range docs {
		var c domain.Collection
		if err := fromDoc(doc, &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// scopeFilter returns the filter that limits reads to what scope allows.
func scopeFilter(scope domain.ReadScope) (query.Expr, error) {
	if scope.All {
		return nil, nil
	}
	or := []any{map[string]any{scope.OwnerField: scope.UserID}}
	if scope.PublicField != "" {
		or = append(or, map[string]any{scope.PublicField: true})
	}
	return query.ParseMap(map[string]any{"$or": or})
}

// Get returns one visible document, or domain.ErrNotFound.
func (d Documents) Get(ctx context.Context, app, coll, id string, scope domain.ReadScope) (readstore.Doc, error) {
	doc, err := d.Reads.Get(ctx, DocumentsNS(app, coll), id)
	if errors.Is(err, readstore.ErrNotFound) || (err == nil && !scope.Allows(doc)) {
		return nil, domain.ErrNotFound
	}
	return doc, err
}

// List returns visible documents matching f.
func (d Documents) List(ctx context.Context, app, coll string, scope domain.ReadScope, f readstore.Find) ([]readstore.Doc, error) {
	sf, err := scopeFilter(scope)
	if err != nil {
		return nil, err
	}
	f.Filter = query.AllOf(f.Filter, sf)
	return d.Reads.Find(ctx, DocumentsNS(app, coll), f)
}

// Count counts visible documents matching filter.
func (d Documents) Count(ctx context.Context, app, coll string, scope domain.ReadScope, filter query.Expr) (int64, error) {
	sf, err := scopeFilter(scope)
	if err != nil {
		return 0, err
	}
	return d.Reads.Count(ctx, DocumentsNS(app, coll), query.AllOf(filter, sf))
}
