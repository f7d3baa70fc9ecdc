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
//
// Filters other than AppID are applied here, not in the store: a filtered
// Read cannot say how far it scanned, so a follower of rare event types
// would rescan everything after its last match on every append.
func Follow(ctx context.Context, s Store, q Query, fn func([]Event) error) error {
	return FollowWake(ctx, s, q, nil, fn)
}

// FollowWake is Follow with one more wake-up source: wake (if not nil) is
// notified when another process says it appended (the multi-node bus), so
// the follower reads now instead of at its next poll.
func FollowWake(ctx context.Context, s Store, q Query, wake *Signal, fn func([]Event) error) error {
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	filter := q
	q = Query{AppID: q.AppID, After: q.After, Limit: q.Limit}
	timer := time.NewTimer(PollInterval)
	defer timer.Stop()
	for {
		// Take the signal before reading so an append between the read and
		// the wait is not missed.
		changed := s.Changed()
		var woken <-chan struct{}
		if wake != nil {
			woken = wake.Wait()
		}
		evs, err := s.Read(ctx, q)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if len(evs) > 0 {
			matched := evs[:0:0]
			for _, e := range evs {
				if filter.Matches(e) {
					matched = append(matched, e)
				}
			}
			if len(matched) == len(evs) {
				matched = evs
			}
			if len(matched) > 0 {
				if err := fn(matched); err != nil {
					return err
				}
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
		case <-woken:
		case <-timer.C:
		}
	}
}
