// Package commands has one handler per intent of a client: it loads the
// aggregate from its stream, asks the domain to decide, and appends the
// resulting events with the expected version, retrying on conflict where the
// decision can simply be taken again. A command returns after its events are
// durable and, where a projection runner is present, projected
// (read-your-writes).
package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/internal/cache"
)

// Meta says who asked for a command and within which request.
type Meta struct {
	Actor     string // user id, "secret_key", "publishable_key", "admin:<email>", "cli"
	RequestID string
}

// Waiter is the projection runner as commands see it. WaitFor returns once
// the event last (and everything before it in its store) is applied.
type Waiter interface {
	WaitFor(ctx context.Context, last eventstore.Event) error
}

// Service runs commands against an event store.
type Service struct {
	Events eventstore.Store
	// Projections, when set, makes every command wait until its events are
	// applied to the read models before returning.
	Projections Waiter
	Now         func() time.Time
	// collections caches definitions on a serving node (with a runner).
	collections *cache.Cache[*domain.Collection]
}

// New returns a Service. With a projection runner it also caches collection
// definitions; register InvalidateCollections with the runner.
func New(events eventstore.Store, projections Waiter) *Service {
	s := &Service{Events: events, Projections: projections, Now: time.Now}
	if projections != nil {
		s.collections = cache.New[*domain.Collection]()
	}
	return s
}

// maxRetries bounds the retries of a command that re-decides on conflict.
// Each round of N racing writers lets one through, so the budget must cover
// heavy contention on one stream; jittered back-off spreads the rounds.
const maxRetries = 64

// Append appends changes to a stream at the expected version, then waits for
// the projections. It is the one path by which commands write.
func (s *Service) Append(ctx context.Context, m Meta, appID, stream string, expected int64, changes []domain.Change) ([]eventstore.Event, error) {
	now := s.Now().UTC()
	proposed := make([]eventstore.Proposed, len(changes))
	for i, c := range changes {
		raw, err := json.Marshal(c.Payload)
		if err != nil {
			return nil, fmt.Errorf("commands: encode %s: %w", c.Type, err)
		}
		proposed[i] = eventstore.Proposed{Type: c.Type, Payload: raw, Actor: m.Actor, RequestID: m.RequestID, Time: now}
	}
	evs, err := s.Events.Append(ctx, eventstore.Append{AppID: appID, StreamID: stream, Expected: expected, Events: proposed})
	if err != nil {
		return nil, err
	}
	if err := s.Wait(ctx, evs); err != nil {
		return nil, err
	}
	return evs, nil
}

// Wait blocks until evs are projected (no-op without a runner). The write is
// durable either way; a caller whose context ends here still succeeded.
func (s *Service) Wait(ctx context.Context, evs []eventstore.Event) error {
	if s.Projections == nil || len(evs) == 0 {
		return nil
	}
	// The write is committed: wait on a context that survives a client
	// going away so the answer reflects the projected state, but bounded.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := s.Projections.WaitFor(wctx, evs[len(evs)-1]); err != nil {
		return fmt.Errorf("%w: events are durable but projections lag: %v", eventstore.ErrUnavailable, err)
	}
	return nil
}

// retry runs fn until it does not fail with a version conflict.
func retry(ctx context.Context, fn func() error) error {
	var err error
	for i := 0; i < maxRetries; i++ {
		if err = fn(); !errors.Is(err, eventstore.ErrConflict) {
			return err
		}
		if i > 0 {
			// Up to i ms (capped at 20): losers of a round spread out.
			d := time.Duration(rand.Int64N(int64(min(i, 20))*int64(time.Millisecond) + 1))
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return err
}

// LoadApp folds an app's stream into its state.
func (s *Service) LoadApp(ctx context.Context, appID string) (*domain.App, error) {
	evs, err := s.Events.ReadStream(ctx, appID, domain.AppStream, 0)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, domain.ErrNotFound
	}
	app := &domain.App{ID: appID}
	for _, e := range evs {
		if err := app.Apply(e.Type, e.Payload, e.Time); err != nil {
			return nil, err
		}
	}
	return app, nil
}

// updateApp re-decides an app change until it commits without conflict.
func (s *Service) updateApp(ctx context.Context, m Meta, appID string, decide func(*domain.App) ([]domain.Change, error)) (*domain.App, error) {
	var app *domain.App
	err := retry(ctx, func() error {
		var err error
		app, err = s.LoadApp(ctx, appID)
		if err != nil {
			return err
		}
		changes, err := decide(app)
		if err != nil {
			return err
		}
		evs, err := s.Append(ctx, m, appID, domain.AppStream, app.Version, changes)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := app.Apply(e.Type, e.Payload, e.Time); err != nil {
				return err
			}
		}
		return nil
	})
	return app, err
}
