package eventstore

import (
	"context"
	"time"
)

// PollInterval bounds how late a follower notices appends made by another
// process (which Changed cannot signal).
const PollInterval = 200 * time.Millisecond

// Follow reads every event matching q after q.After, then keeps following
// live appends, calling fn with each non-empty batch in position order. It
// returns when ctx ends (nil) or fn or the store fails. Batches never skip a
// position that may still commit, because Read is gap-safe.
func Follow(ctx context.Context, s Store, q Query, fn func([]Event) error) error {
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	timer := time.NewTimer(PollInterval)
	defer timer.Stop()
	for {
		// Take the signal before reading so an append between the read and
		// the wait is not missed.
		changed := s.Changed()
		evs, err := s.Read(ctx, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(evs) > 0 {
			if err := fn(evs); err != nil {
				return err
			}
			q.After = evs[len(evs)-1].Position
			if len(evs) == q.Limit {
				continue
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(PollInterval)
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-timer.C:
		}
	}
}
