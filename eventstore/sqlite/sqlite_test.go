package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/eventstore/eventstoretest"
	"github.com/eventbase/eventbase/eventstore/sqlite"
)

func open(loc string) (eventstore.Store, error) { return sqlite.Open(loc) }

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
