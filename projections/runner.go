// Package projections builds the read models from the event log: a Runner
// follows the log from the projections' checkpoints and applies each batch
// of events to every projection in one read-store batch, then tells waiting
// commands (read-your-writes) and in-process subscribers (the watermill bus).
// Nothing here is the only copy of a fact: Rebuild drops it all and replays.
package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/readstore"
)

// Projection turns events into read-model writes. Apply must be idempotent:
// after a crash a batch may be applied again (on stores without
// transactions), and the runner skips events at or below the projection's
// checkpoint.
type Projection interface {
	// Name identifies the projection and its checkpoint; bump the version
	// suffix (e.g. "documents@2") to make it rebuild from the start.
	Name() string
	Apply(w readstore.Writer, e eventstore.Event) error
}

// Runner applies events to projections.
type Runner struct {
	events eventstore.Store
	reads  readstore.Store
	projs  []Projection
	log    *slog.Logger

	applied atomic.Int64
	sig     eventstore.Signal
	wake    eventstore.Signal // Nudge: another node appended

	// applyMu serialises applying batches with RebuildApp.
	applyMu   sync.Mutex
	mu        sync.Mutex
	listeners []func([]eventstore.Event)
	failing   atomic.Bool
}

// NewRunner returns a runner for projs.
func NewRunner(events eventstore.Store, reads readstore.Store, log *slog.Logger, projs ...Projection) *Runner {
	if log == nil {
		log = slog.Default()
	}
	return &Runner{events: events, reads: reads, projs: projs, log: log}
}

// OnApplied registers fn to be called, in order, with every batch after it
// is applied. fn must not block for long: it runs on the projection path.
func (r *Runner) OnApplied(fn func([]eventstore.Event)) {
	r.mu.Lock()
	r.listeners = append(r.listeners, fn)
	r.mu.Unlock()
}

// Nudge makes the runner read the log now: another node sharing the store
// has appended (its own appends wake it through the store).
func (r *Runner) Nudge() { r.wake.Notify() }

// Position returns the last position applied to every projection.
func (r *Runner) Position() int64 { return r.applied.Load() }

// Healthy reports whether the last attempt to apply events succeeded.
func (r *Runner) Healthy() bool { return !r.failing.Load() }

// WaitFor blocks until every projection has applied last, so a query after
// a write sees it (read-your-writes). It implements commands.Waiter for a
// node with one store.
func (r *Runner) WaitFor(ctx context.Context, last eventstore.Event) error {
	return r.WaitForPosition(ctx, last.Position)
}

// WaitForPosition blocks until every projection has applied position pos.
func (r *Runner) WaitForPosition(ctx context.Context, pos int64) error {
	for {
		ch := r.sig.Wait()
		if r.applied.Load() >= pos {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (r *Runner) checkpoints(ctx context.Context) (map[string]int64, int64, error) {
	cps := make(map[string]int64, len(r.projs))
	var low int64 = -1
	for _, p := range r.projs {
		cp, err := r.reads.Checkpoint(ctx, p.Name())
		if err != nil {
			return nil, 0, err
		}
		cps[p.Name()] = cp
		if low < 0 || cp < low {
			low = cp
		}
	}
	if low < 0 {
		low = 0
	}
	return cps, low, nil
}

// CatchUp applies every event committed so far and returns the position
// reached. Serve calls it before taking traffic; replay uses it to rebuild.
func (r *Runner) CatchUp(ctx context.Context, progress func(applied int64)) (int64, error) {
	cps, pos, err := r.checkpoints(ctx)
	if err != nil {
		return 0, err
	}
	r.applied.Store(pos)
	for {
		evs, err := r.events.Read(ctx, eventstore.Query{After: pos, Limit: eventstore.DefaultLimit})
		if err != nil {
			return pos, err
		}
		if len(evs) == 0 {
			return pos, nil
		}
		if err := r.apply(ctx, cps, evs); err != nil {
			return pos, err
		}
		pos = evs[len(evs)-1].Position
		if progress != nil {
			progress(int64(len(evs)))
		}
	}
}

// Run follows the log and applies events until ctx ends. Failures of the
// read store are retried with back-off: a projection never skips an event.
func (r *Runner) Run(ctx context.Context) error {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		cps, pos, err := r.checkpoints(ctx)
		if err == nil {
			if pos > r.applied.Load() {
				r.applied.Store(pos)
			}
			err = eventstore.FollowWake(ctx, r.events, eventstore.Query{After: pos}, &r.wake, func(evs []eventstore.Event) error {
				return r.apply(ctx, cps, evs)
			})
		}
		if err == nil || ctx.Err() != nil {
			return nil
		}
		r.failing.Store(true)
		r.log.Error("projections: applying events failed; retrying", "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return nil
}

func (r *Runner) apply(ctx context.Context, cps map[string]int64, evs []eventstore.Event) error {
	last := evs[len(evs)-1].Position
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	err := r.reads.Batch(ctx, func(w readstore.Writer) error {
		for _, p := range r.projs {
			name := p.Name()
			for _, e := range evs {
				if e.Position <= cps[name] {
					continue
				}
				at(w, e.Position)
				if err := p.Apply(w, e); err != nil {
					return fmt.Errorf("projection %s at position %d (%s): %w", name, e.Position, e.Type, err)
				}
			}
			if err := w.SetCheckpoint(name, last); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range r.projs {
		cps[p.Name()] = last
	}
	r.failing.Store(false)
	// Listeners (cache invalidation, the bus) run before waiting commands
	// are released, so a request after a 2xx config change never reads a
	// cached old value.
	r.mu.Lock()
	ls := r.listeners
	r.mu.Unlock()
	for _, fn := range ls {
		fn(evs)
	}
	r.applied.Store(last)
	r.sig.Notify()
	return nil
}

// at tells w, if it cares (readstore.PositionedWriter), that the writes
// that follow come from the event at pos: on a store that other nodes write
// too, they then never undo a later event's writes.
func at(w readstore.Writer, pos int64) {
	if pw, ok := w.(readstore.PositionedWriter); ok {
		pw.At(pos)
	}
}

// ErrDiverged is returned by Verify when rebuilt read models differ.
var ErrDiverged = errors.New("projections: rebuilt read models differ from the live ones")
