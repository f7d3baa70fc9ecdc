package commands

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// NoIfMatch means the client sent no If-Match version.
const NoIfMatch int64 = -1

// LoadCollection folds a collection's definition stream. A collection never
// defined nor written is returned with Version 0 (Exists() false).
func (s *Service) LoadCollection(ctx context.Context, appID, name string) (*domain.Collection, error) {
	evs, err := s.Events.ReadStream(ctx, appID, domain.CollectionStream(name), 0)
	if err != nil {
		return nil, err
	}
	c := &domain.Collection{Name: name, RLS: domain.RLS{Mode: domain.RLSPublicRead, OwnerField: "userId"}}
	for _, e := range evs {
		if err := c.Apply(e.Type, e.Payload); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Collection returns a collection's definition from the cache when the
// service has one (a serving node, where the runner invalidates it as
// collection_defined events are applied, before the defining command
// returns and before the events reach the bus), else from its stream.
// Reads, writes and realtime delivery all use it.
func (s *Service) Collection(ctx context.Context, appID, name string) (*domain.Collection, error) {
	if s.collections == nil {
		return s.LoadCollection(ctx, appID, name)
	}
	key := appID + "/" + name
	if c, ok := s.collections.Get(key); ok {
		return c, nil
	}
	gen := s.collections.Gen()
	c, err := s.LoadCollection(ctx, appID, name)
	if err != nil {
		return nil, err
	}
	if c.Exists() {
		s.collections.Fill(gen, c, key)
	}
	return c, nil
}

// InvalidateCollections drops cached definitions changed by evs. Register
// it with the projection runner's OnApplied.
func (s *Service) InvalidateCollections(evs []eventstore.Event) {
	if s.collections == nil {
		return
	}
	for _, e := range evs {
		if e.Type != domain.EventCollectionDefined {
			continue
		}
		var c struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(e.Payload, &c) == nil {
			s.collections.Invalidate(e.AppID + "/" + c.Name)
		}
	}
}

// DefineCollection creates or redefines a collection's schema and RLS. Nil
// rls keeps the current RLS settings.
func (s *Service) DefineCollection(ctx context.Context, m Meta, appID, name string, fields []domain.Field, rls *domain.RLS) (*domain.Collection, error) {
	if err := domain.ValidateCollectionName(name); err != nil {
		return nil, err
	}
	var c *domain.Collection
	err := retry(ctx, func() error {
		var err error
		if c, err = s.LoadCollection(ctx, appID, name); err != nil {
			return err
		}
		fs := fields
		if fs == nil {
			fs = c.Fields
		}
		changes, err := c.Define(name, append([]domain.Field(nil), fs...), rls)
		if err != nil {
			return err
		}
		evs, err := s.Append(ctx, m, appID, domain.CollectionStream(name), c.Version, changes)
		if err != nil {
			return err
		}
		return c.Apply(evs[0].Type, evs[0].Payload)
	})
	return c, err
}

// collectionForWrite loads the collection a write goes to. The secret key
// creates a missing collection implicitly; anyone else gets 404.
func (s *Service) collectionForWrite(ctx context.Context, m Meta, appID, name string, a domain.Access) (*domain.Collection, error) {
	if err := domain.ValidateCollectionName(name); err != nil {
		return nil, err
	}
	c, err := s.Collection(ctx, appID, name)
	if err != nil {
		return nil, err
	}
	if c.Exists() {
		return c, nil
	}
	if !a.Privileged {
		return nil, domain.ErrCollectionNotFound
	}
	changes, err := c.Define(name, nil, nil)
	if err != nil {
		return nil, err
	}
	evs, err := s.Append(ctx, m, appID, domain.CollectionStream(name), eventstore.NoStream, changes)
	if errors.Is(err, eventstore.ErrConflict) {
		return s.LoadCollection(ctx, appID, name) // another writer created it first
	}
	if err != nil {
		return nil, err
	}
	return c, c.Apply(evs[0].Type, evs[0].Payload)
}

// LoadDocument folds a document's stream.
func (s *Service) LoadDocument(ctx context.Context, appID, coll, id string) (*domain.Document, []eventstore.Event, error) {
	evs, err := s.Events.ReadStream(ctx, appID, domain.DocumentStream(coll, id), 0)
	if err != nil {
		return nil, nil, err
	}
	d := &domain.Document{Collection: coll, ID: id}
	for _, e := range evs {
		if err := d.Apply(e.Type, e.Payload); err != nil {
			return nil, nil, err
		}
	}
	return d, evs, nil
}

// NewDocID returns a new 24-hex document id (a MongoDB ObjectID, so ids sort
// roughly by creation time).
func NewDocID() string { return bson.NewObjectID().Hex() }

// CreateDocument creates a document. A body "_id" (24-hex) is used as the id.
func (s *Service) CreateDocument(ctx context.Context, m Meta, appID, coll string, a domain.Access, body map[string]any) (map[string]any, error) {
	if err := domain.ValidateBody(body); err != nil {
		return nil, err
	}
	c, err := s.collectionForWrite(ctx, m, appID, coll, a)
	if err != nil {
		return nil, err
	}
	if err := c.AuthorizeInsert(a, body); err != nil {
		return nil, err
	}
	prev := &domain.Document{Collection: coll, ID: NewDocID()}
	if v, ok := body[domain.FieldID]; ok && v != nil {
		sid, ok := v.(string)
		if !ok || !domain.ValidDocID(sid) {
			return nil, domain.Invalid("_id", "_id must be a 24-character hex string")
		}
		// A client-chosen id may be taken, or belong to a deleted document
		// whose stream then continues.
		if prev, _, err = s.LoadDocument(ctx, appID, coll, sid); err != nil {
			return nil, err
		}
	}
	id := prev.ID
	changes, doc, err := c.Create(prev, body, s.Now())
	if err != nil {
		return nil, err
	}
	claimed, err := s.claimAll(ctx, m, appID, c, id, nil, doc)
	if err != nil {
		return nil, err
	}
	if _, err := s.Append(ctx, m, appID, domain.DocumentStream(coll, id), prev.Version, changes); err != nil {
		s.releaseAll(ctx, m, appID, c, id, claimed)
		if errors.Is(err, eventstore.ErrConflict) {
			return nil, &domain.UniqueError{Field: "_id"}
		}
		return nil, err
	}
	return doc, nil
}

// UpdateDocument merges (replace=false) or replaces body into a document.
// Without If-Match (ifMatch = NoIfMatch) a conflicting concurrent write is
// retried on the new state, so no update is lost; with it, a stale version
// is a conflict.
func (s *Service) UpdateDocument(ctx context.Context, m Meta, appID, coll, id string, a domain.Access, body map[string]any, replace bool, ifMatch int64) (map[string]any, error) {
	if err := domain.ValidateBody(body); err != nil {
		return nil, err
	}
	c, err := s.existingCollection(ctx, appID, coll, a)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	err = retry(ctx, func() error {
		d, err := s.loadForChange(ctx, appID, c, id, a, body, ifMatch)
		if err != nil {
			return err
		}
		changes, next, err := c.Update(d, body, replace, s.Now())
		if err != nil {
			return err
		}
		claimed, err := s.claimAll(ctx, m, appID, c, id, d.Doc, next)
		if err != nil {
			return err
		}
		if _, err := s.Append(ctx, m, appID, domain.DocumentStream(coll, id), d.Version, changes); err != nil {
			s.releaseAll(ctx, m, appID, c, id, claimed)
			if ifMatch != NoIfMatch && errors.Is(err, eventstore.ErrConflict) {
				return domain.ErrStaleVersion
			}
			return err
		}
		s.releaseAll(ctx, m, appID, c, id, freedValues(c, d.Doc, next))
		out = next
		return nil
	})
	return out, err
}

// DeleteDocument deletes a document and frees its unique values.
func (s *Service) DeleteDocument(ctx context.Context, m Meta, appID, coll, id string, a domain.Access, ifMatch int64) error {
	c, err := s.existingCollection(ctx, appID, coll, a)
	if err != nil {
		return err
	}
	return retry(ctx, func() error {
		d, err := s.loadForChange(ctx, appID, c, id, a, nil, ifMatch)
		if err != nil {
			return err
		}
		changes, err := c.Delete(d)
		if err != nil {
			return err
		}
		if _, err := s.Append(ctx, m, appID, domain.DocumentStream(coll, id), d.Version, changes); err != nil {
			if ifMatch != NoIfMatch && errors.Is(err, eventstore.ErrConflict) {
				return domain.ErrStaleVersion
			}
			return err
		}
		s.releaseAll(ctx, m, appID, c, id, freedValues(c, d.Doc, nil))
		return nil
	})
}

// loadForChange loads a live document for an update (body) or a delete
// (nil body) and checks If-Match and the caller's right to change it.
func (s *Service) loadForChange(ctx context.Context, appID string, c *domain.Collection, id string, a domain.Access, body map[string]any, ifMatch int64) (*domain.Document, error) {
	d, _, err := s.LoadDocument(ctx, appID, c.Name, id)
	if err != nil {
		return nil, err
	}
	if !d.Exists() {
		return nil, domain.ErrNotFound
	}
	if ifMatch != NoIfMatch && ifMatch != d.Version {
		return nil, domain.ErrStaleVersion
	}
	if err := c.AuthorizeChange(a, d.Doc, body); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Service) existingCollection(ctx context.Context, appID, coll string, a domain.Access) (*domain.Collection, error) {
	if err := domain.ValidateCollectionName(coll); err != nil {
		return nil, err
	}
	c, err := s.Collection(ctx, appID, coll)
	if err != nil {
		return nil, err
	}
	if !c.Exists() {
		return nil, domain.ErrCollectionNotFound
	}
	if err := c.CanWrite(a); err != nil {
		return nil, err
	}
	return c, nil
}
