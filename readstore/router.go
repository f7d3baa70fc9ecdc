package readstore

import (
	"context"
	"errors"

	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/query"
)

// Router answers queries of each app's namespaces from the store that holds
// them: the default store, or the app's own (an app that brings its own
// MongoDB). Batches, checkpoints, Namespaces and Reset go to the default
// store: each store's projection runner writes to its store directly.
type Router struct {
	Store
	// For returns the store of an app's read models, or nil for the
	// default one.
	For func(ctx context.Context, app string) (Store, error)
}

func (r *Router) store(ctx context.Context, ns NS) (Store, error) {
	if r.For == nil || ns.App == "" {
		return r.Store, nil
	}
	s, err := r.For(ctx, ns.App)
	if err != nil {
		return nil, errors.Join(eventstore.ErrUnavailable, err)
	}
	if s == nil {
		return r.Store, nil
	}
	return s, nil
}

// Get implements Store.
func (r *Router) Get(ctx context.Context, ns NS, id string) (Doc, error) {
	s, err := r.store(ctx, ns)
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, ns, id)
}

// Find implements Store.
func (r *Router) Find(ctx context.Context, ns NS, f Find) ([]Doc, error) {
	s, err := r.store(ctx, ns)
	if err != nil {
		return nil, err
	}
	return s.Find(ctx, ns, f)
}

// Count implements Store.
func (r *Router) Count(ctx context.Context, ns NS, filter query.Expr) (int64, error) {
	s, err := r.store(ctx, ns)
	if err != nil {
		return 0, err
	}
	return s.Count(ctx, ns, filter)
}

// EnsureIndex implements Store.
func (r *Router) EnsureIndex(ctx context.Context, ns NS, field string) error {
	s, err := r.store(ctx, ns)
	if err != nil {
		return err
	}
	return s.EnsureIndex(ctx, ns, field)
}
