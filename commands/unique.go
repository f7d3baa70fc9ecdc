package commands

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"time"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/secret"
)

// Unique fields are enforced with one claim stream per (collection, field,
// value): taking a value is an optimistic append to that stream, so of many
// racing writers exactly one wins, on any event store. A claim is taken
// before the document is written and released when the document lets the
// value go (update, delete) or its write fails.

// staleClaimAge is how old a claim must be before a claim whose document
// does not hold the value (its writer crashed between claim and write) may
// be taken over.
const staleClaimAge = 30 * time.Second

type claimPayload struct {
	Collection string `json:"collection"`
	Field      string `json:"field"`
	DocID      string `json:"doc_id"`
}

type uniqueValue struct {
	Field string
	Value any
}

func claimStream(coll, field string, value any) string {
	raw, _ := json.Marshal(value)
	return "unique-" + coll + "-" + field + "-" + secret.Hash(string(raw))[:32]
}

// claimAll claims every unique value of next that old does not already
// hold, in field order. On failure it releases what it took.
func (s *Service) claimAll(ctx context.Context, m Meta, appID string, c *domain.Collection, docID string, old, next map[string]any) ([]uniqueValue, error) {
	var taken []uniqueValue
	fields := c.UniqueFields()
	sort.Strings(fields)
	for _, f := range fields {
		v, ok := next[f]
		if !ok || v == nil {
			continue
		}
		if old != nil && reflect.DeepEqual(old[f], v) {
			continue
		}
		if err := s.claim(ctx, m, appID, c.Name, f, v, docID); err != nil {
			s.releaseAll(ctx, m, appID, c, docID, taken)
			return nil, err
		}
		taken = append(taken, uniqueValue{f, v})
	}
	return taken, nil
}

func (s *Service) claim(ctx context.Context, m Meta, appID, coll, field string, value any, docID string) error {
	err := s.takeClaim(ctx, m, appID, coll, field, value, docID, func(ctx context.Context, other string) (bool, error) {
		d, _, err := s.LoadDocument(ctx, appID, coll, other)
		if err != nil {
			return false, err
		}
		return d.Exists() && reflect.DeepEqual(d.Doc[field], value), nil
	})
	if errors.Is(err, errClaimTaken) {
		return &domain.UniqueError{Field: field}
	}
	return err
}

// errClaimTaken: another holder has the value.
var errClaimTaken = errors.New("commands: value claimed by another holder")

// takeClaim claims (coll, field, value) for holder with an optimistic
// append, retried on conflict: of many racing writers exactly one wins. A
// claim of another holder stands (errClaimTaken) unless it is older than
// staleClaimAge and held says that holder does not hold the value: its
// writer crashed between claiming and writing.
func (s *Service) takeClaim(ctx context.Context, m Meta, appID, coll, field string, value any, holder string, held func(ctx context.Context, other string) (bool, error)) error {
	stream := claimStream(coll, field, value)
	return retry(ctx, func() error {
		evs, err := s.Events.ReadStream(ctx, appID, stream, 0)
		if err != nil {
			return err
		}
		if n := len(evs); n > 0 && evs[n-1].Type == domain.EventUniqueClaimed {
			var p claimPayload
			if err := json.Unmarshal(evs[n-1].Payload, &p); err != nil {
				return err
			}
			if p.DocID == holder {
				return nil
			}
			if s.Now().Sub(evs[n-1].Time) < staleClaimAge {
				return errClaimTaken
			}
			if h, err := held(ctx, p.DocID); err != nil || h {
				if err != nil {
					return err
				}
				return errClaimTaken
			}
		}
		_, err = s.Events.Append(ctx, eventstore.Append{AppID: appID, StreamID: stream, Expected: int64(len(evs)),
			Events: []eventstore.Proposed{s.proposed(m, domain.EventUniqueClaimed, claimPayload{coll, field, holder})}})
		return err
	})
}

// releaseAll frees values held by docID. Failures are left to the stale
// claim rule: a release is an optimisation, never needed for correctness.
func (s *Service) releaseAll(ctx context.Context, m Meta, appID string, c *domain.Collection, docID string, vals []uniqueValue) {
	for _, uv := range vals {
		stream := claimStream(c.Name, uv.Field, uv.Value)
		_ = retry(ctx, func() error {
			evs, err := s.Events.ReadStream(ctx, appID, stream, 0)
			if err != nil || len(evs) == 0 || evs[len(evs)-1].Type != domain.EventUniqueClaimed {
				return err
			}
			var p claimPayload
			if err := json.Unmarshal(evs[len(evs)-1].Payload, &p); err != nil || p.DocID != docID {
				return err
			}
			_, err = s.Events.Append(ctx, eventstore.Append{AppID: appID, StreamID: stream, Expected: int64(len(evs)),
				Events: []eventstore.Proposed{s.proposed(m, domain.EventUniqueReleased, claimPayload{c.Name, uv.Field, docID})}})
			return err
		})
	}
}

// freedValues lists the unique values old holds that next (nil: deleted) does not.
func freedValues(c *domain.Collection, old, next map[string]any) []uniqueValue {
	var out []uniqueValue
	for _, f := range c.UniqueFields() {
		v, ok := old[f]
		if !ok || v == nil {
			continue
		}
		if next != nil && reflect.DeepEqual(next[f], v) {
			continue
		}
		out = append(out, uniqueValue{f, v})
	}
	return out
}

func (s *Service) proposed(m Meta, typ string, payload any) eventstore.Proposed {
	raw, _ := json.Marshal(payload)
	return eventstore.Proposed{Type: typ, Payload: raw, Actor: m.Actor, RequestID: m.RequestID, Time: s.Now().UTC()}
}
