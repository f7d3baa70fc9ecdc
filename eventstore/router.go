package eventstore

import (
	"context"
	"errors"
)

// Router sends each app's operations to the store that holds its log: the
// default store, or the app's own (an app that brings its own MongoDB).
// Positions are per store, so reading every app (AppID "") reads the
// default store only; followers of other stores follow them directly.
type Router struct {
	Default Store
	// For returns the store of an app's stream, or nil for the default
	// store. It must be cheap (cached) and never answer the default store
	// for an app whose log lives elsewhere: an error is returned instead.
	For func(ctx context.Context, appID, streamID string) (Store, error)
}

func (r *Router) store(ctx context.Context, appID, streamID string) (Store, error) {
	if r.For == nil || appID == "" {
		return r.Default, nil
	}
	s, err := r.For(ctx, appID, streamID)
	if err != nil {
		return nil, errors.Join(ErrUnavailable, err)
	}
	if s == nil {
		return r.Default, nil
	}
	return s, nil
}

// Append implements Store.
func (r *Router) Append(ctx context.Context, a Append) ([]Event, error) {
	s, err := r.store(ctx, a.AppID, a.StreamID)
	if err != nil {
		return nil, err
	}
	return s.Append(ctx, a)
}

// ReadStream implements Store.
func (r *Router) ReadStream(ctx context.Context, appID, streamID string, afterVersion int64) ([]Event, error) {
	s, err := r.store(ctx, appID, streamID)
	if err != nil {
		return nil, err
	}
	return s.ReadStream(ctx, appID, streamID, afterVersion)
}

// Read implements Store: an app's events come from its own store (a
// StreamID filter picks the store of that stream).
func (r *Router) Read(ctx context.Context, q Query) ([]Event, error) {
	s, err := r.store(ctx, q.AppID, q.StreamID)
	if err != nil {
		return nil, err
	}
	return s.Read(ctx, q)
}

// Changed implements Store: appends to the default store.
func (r *Router) Changed() <-chan struct{} { return r.Default.Changed() }

// Close closes the default store; the owners of the other stores close them.
func (r *Router) Close() error { return r.Default.Close() }
