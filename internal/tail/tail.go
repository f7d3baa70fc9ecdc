// Package tail feeds a side-effect worker (mailer, hooks) with the events of
// some types in log order, from its own checkpoint: first a one-time
// filtered read of what was committed before the node started, then the
// batches the projection runner applies (Push, registered with
// Runner.OnApplied). Riding on the runner costs no extra scan of the log,
// and a filtered follower of its own would rescan every non-matching event
// after its last match on each wake-up.
package tail

import (
	"context"
	"sync"

	"github.com/eventbase/eventbase/eventstore"
)

// Tail is one worker's feed.
type Tail struct {
	events eventstore.Store
	types  []string
	match  map[string]bool
	start  int64 // the runner's position when the Tail was made

	mu    sync.Mutex
	queue []eventstore.Event
	sig   eventstore.Signal
}

// New returns a Tail of the given types. start is the runner's position
// now; register Push with the runner before it applies anything newer.
func New(events eventstore.Store, types []string, start int64) *Tail {
	m := make(map[string]bool, len(types))
	for _, t := range types {
		m[t] = true
	}
	return &Tail{events: events, types: types, match: m, start: start}
}

// Push queues the matching events of an applied batch. It never blocks.
func (t *Tail) Push(evs []eventstore.Event) {
	n := 0
	t.mu.Lock()
	for _, e := range evs {
		if t.match[e.Type] {
			t.queue = append(t.queue, e)
			n++
		}
	}
	t.mu.Unlock()
	if n > 0 {
		t.sig.Notify()
	}
}

// Follow calls fn with each matching event after position after, in order,
// until ctx ends (nil) or fn fails. An event is given once per Follow even
// if the runner applies its batch again.
func (t *Tail) Follow(ctx context.Context, after int64, fn func(eventstore.Event) error) error {
	last := after
	// What was committed before start: a filtered read (by type, in SQL).
	for last < t.start {
		evs, err := t.events.Read(ctx, eventstore.Query{After: last, Types: t.types, Limit: eventstore.DefaultLimit})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		done := len(evs) < eventstore.DefaultLimit
		for _, e := range evs {
			if e.Position > t.start {
				done = true // from here on, the runner pushes it
				break
			}
			if err := fn(e); err != nil {
				return err
			}
			last = e.Position
		}
		if done {
			break
		}
	}
	for {
		ch := t.sig.Wait()
		t.mu.Lock()
		batch := t.queue
		t.queue = nil
		t.mu.Unlock()
		for i, e := range batch {
			if e.Position <= last {
				continue
			}
			if err := fn(e); err != nil {
				t.requeue(batch[i:])
				return err
			}
			last = e.Position
			if ctx.Err() != nil {
				t.requeue(batch[i+1:])
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ch:
		}
	}
}

// requeue puts back events not handled, ahead of newer ones.
func (t *Tail) requeue(evs []eventstore.Event) {
	if len(evs) == 0 {
		return
	}
	t.mu.Lock()
	t.queue = append(append([]eventstore.Event(nil), evs...), t.queue...)
	t.mu.Unlock()
}
