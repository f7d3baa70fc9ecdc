// Package eventstore owns the append-only log: the Store port, its adapters
// (sqlite, mongo) and the conformance suite every adapter passes
// (eventstoretest). It knows nothing about event types: payloads are opaque
// JSON, types are strings.
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Expected-version sentinels for Append.
const (
	// Any appends whatever the stream's current version is.
	Any int64 = -1
	// NoStream appends only if the stream has no events yet.
	NoStream int64 = 0
)

// ErrConflict is returned (wrapped in *ConflictError) when the stream's
// version is not the expected one. Use errors.Is(err, ErrConflict).
var ErrConflict = errors.New("eventstore: version conflict")

// ErrUnavailable wraps failures of the backing store that a retry later may
// cure (network down, disk full). Transport maps it to 503.
var ErrUnavailable = errors.New("eventstore: store unavailable")

// ErrClosed is returned by operations on a closed store.
var ErrClosed = errors.New("eventstore: closed")

// ConflictError carries the versions of a failed optimistic append.
type ConflictError struct {
	AppID, StreamID string
	Expected        int64
	Actual          int64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("eventstore: stream %s/%s is at version %d, expected %d", e.AppID, e.StreamID, e.Actual, e.Expected)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Event is a committed fact. Position is global across all apps of a store
// and strictly increasing in commit-visibility order as seen by Read.
type Event struct {
	Position  int64           `json:"position"`
	AppID     string          `json:"app_id"`
	StreamID  string          `json:"stream_id"`
	Version   int64           `json:"version"`
	Type      string          `json:"type"`
	Time      time.Time       `json:"time"`
	Actor     string          `json:"actor"`
	RequestID string          `json:"request_id,omitempty"`
	Payload   json.RawMessage `json:"payload"`
}

// Proposed is an event not yet appended. A zero Time is set by the store.
type Proposed struct {
	Type      string
	Payload   json.RawMessage
	Actor     string
	RequestID string
	Time      time.Time
}

// Append is one optimistic write to one stream: either every event is
// appended, with consecutive versions after Expected, or none is.
type Append struct {
	AppID    string
	StreamID string
	// Expected is the stream's current version (the number of events in it),
	// NoStream (0) for a new stream, or Any.
	Expected int64
	Events   []Proposed
}

// Query selects committed events in position order. Zero fields do not filter.
type Query struct {
	AppID    string // "" reads every app
	After    int64  // only events with Position > After
	Limit    int    // 0 means the adapter's default page (1000)
	Types    []string
	StreamID string
	Actor    string
	From, To time.Time // inclusive bounds on Event.Time
}

// DefaultLimit is the page size used when Query.Limit is 0.
const DefaultLimit = 1000

// Store is the event log port.
type Store interface {
	// Append writes a.Events to a.StreamID if its version is a.Expected and
	// returns them as committed. It returns only after the events are
	// durable. A version mismatch returns a *ConflictError.
	Append(ctx context.Context, a Append) ([]Event, error)
	// ReadStream returns the stream's events with Version > afterVersion in
	// version order.
	ReadStream(ctx context.Context, appID, streamID string, afterVersion int64) ([]Event, error)
	// Read returns committed events matching q in position order. It never
	// returns an event while an earlier position may still commit (gap-safe):
	// a caller that resumes from the last position it saw misses nothing.
	Read(ctx context.Context, q Query) ([]Event, error)
	// Changed returns a channel closed on the next append made through this
	// Store value (other processes are found by polling).
	Changed() <-chan struct{}
	Close() error
}

// Header is implemented by stores that can tell the highest position
// allocated so far, cheaply (progress bars; it may include positions that
// never commit).
type Header interface {
	Head(ctx context.Context) (int64, error)
}

// Validate checks an Append for shape errors common to every adapter.
func (a Append) Validate() error {
	if a.AppID == "" || a.StreamID == "" {
		return errors.New("eventstore: app id and stream id are required")
	}
	if len(a.Events) == 0 {
		return errors.New("eventstore: nothing to append")
	}
	if a.Expected < Any {
		return fmt.Errorf("eventstore: invalid expected version %d", a.Expected)
	}
	for _, e := range a.Events {
		if e.Type == "" {
			return errors.New("eventstore: event type is required")
		}
		if len(e.Payload) > 0 && !json.Valid(e.Payload) {
			return errors.New("eventstore: payload is not valid JSON")
		}
	}
	return nil
}

// Matches reports whether e passes q's filters other than After and Limit.
// Adapters that cannot push a filter down use it.
func (q Query) Matches(e Event) bool {
	if q.AppID != "" && e.AppID != q.AppID {
		return false
	}
	if q.StreamID != "" && e.StreamID != q.StreamID {
		return false
	}
	if q.Actor != "" && e.Actor != q.Actor {
		return false
	}
	if !q.From.IsZero() && e.Time.Before(q.From) {
		return false
	}
	if !q.To.IsZero() && e.Time.After(q.To) {
		return false
	}
	if len(q.Types) > 0 {
		ok := false
		for _, t := range q.Types {
			if t == e.Type {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
