package commands

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore/sqlite"
)

// TestStaleClaimTakeover: a claim whose writer crashed before writing its
// document blocks the value only until it is older than staleClaimAge; a
// claim whose document holds the value stands for ever.
func TestStaleClaimTakeover(t *testing.T) {
	es, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer es.Close()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(es, nil)
	s.Now = func() time.Time { return now }
	ctx := context.Background()
	m := Meta{Actor: "test"}
	_, err = s.DefineCollection(ctx, m, "app", "people", []domain.Field{{Name: "email", Type: "string", Unique: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}

	// A writer claimed "a@x.io" for doc "crashed" and died before writing it.
	if err := s.claim(ctx, m, "app", "people", "email", "a@x.io", "crashed"); err != nil {
		t.Fatal(err)
	}
	var ue *domain.UniqueError
	if _, err := s.CreateDocument(ctx, m, "app", "people", domain.Access{Privileged: true}, map[string]any{"email": "a@x.io"}); !errors.As(err, &ue) {
		t.Fatalf("young orphan claim: %v", err)
	}
	now = now.Add(staleClaimAge + time.Second)
	if _, err := s.CreateDocument(ctx, m, "app", "people", domain.Access{Privileged: true}, map[string]any{"email": "a@x.io"}); err != nil {
		t.Fatalf("stale orphan claim was not taken over: %v", err)
	}
	// The new holder wrote its document: its claim stands, however old.
	now = now.Add(24 * time.Hour)
	if _, err := s.CreateDocument(ctx, m, "app", "people", domain.Access{Privileged: true}, map[string]any{"email": "a@x.io"}); !errors.As(err, &ue) || ue.Field != "email" {
		t.Fatalf("old claim of a live holder: %v", err)
	}
}
