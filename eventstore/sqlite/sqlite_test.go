package sqlite_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/eventstore/eventstoretest"
	"github.com/eventbase/eventbase/eventstore/sqlite"
)

// open opens a location "<path>" (full sync) or "<path>#normal".
func open(loc string) (eventstore.Store, error) {
	if path, ok := strings.CutSuffix(loc, "#normal"); ok {
		return sqlite.OpenSync(path, sqlite.SyncNormal)
	}
	return sqlite.Open(loc)
}

func TestMain(m *testing.M) {
	eventstoretest.RunChildIfRequested(open)
	os.Exit(m.Run())
}

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, eventstoretest.Harness{
		NewLocation: func(t *testing.T) string { return filepath.Join(t.TempDir(), "events.db") },
		Open:        open,
	})
}

// TestConformanceSyncNormal: with fsync only at checkpoints the store still
// passes everything, the SIGKILL durability test included.
func TestConformanceSyncNormal(t *testing.T) {
	eventstoretest.Run(t, eventstoretest.Harness{
		NewLocation: func(t *testing.T) string { return filepath.Join(t.TempDir(), "events.db") + "#normal" },
		Open:        open,
	})
}

func TestUnknownSyncPolicy(t *testing.T) {
	if _, err := sqlite.OpenSync(filepath.Join(t.TempDir(), "e.db"), "sometimes"); err == nil {
		t.Fatal("unknown sync policy accepted")
	}
}
