package commands

import (
	"context"
	"encoding/json"
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
			if p.DocID == docID {
				return nil
			}
			if !s.staleClaim(ctx, appID, coll, field, value, p.DocID, evs[n-1].Time) {
				return &domain.UniqueError{Field: field}
			}
		}
		_, err = s.Events.Append(ctx, eventstore.Append{AppID: appID, StreamID: stream, Expected: int64(len(evs)),
			Events: []eventstore.Proposed{s.proposed(m, domain.EventUniqueClaimed, claimPayload{coll, field, docID})}})
		return err
	})
}

// staleClaim reports whether an old claim's document does not hold the value.
func (s *Service) staleClaim(ctx context.Context, appID, coll, field string, value any, docID string, at time.Time) bool {
	if s.Now().Sub(at) < staleClaimAge {
		return false
	}
	d, _, err := s.LoadDocument(ctx, appID, coll, docID)
	if err != nil {
		return false
	}
	return !d.Exists() || !reflect.DeepEqual(d.Doc[field], value)
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
