package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/eventstore/eventstoretest"
	"github.com/eventbase/eventbase/eventstore/sqlite"
)

func benchOpen(b *testing.B) eventstore.Store {
	s, err := sqlite.Open(filepath.Join(b.TempDir(), "events.db"))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkAppend(b *testing.B)             { eventstoretest.BenchAppend(b, benchOpen) }
func BenchmarkAppendConcurrent32(b *testing.B) { eventstoretest.BenchAppendConcurrent32(b, benchOpen) }
func BenchmarkReadAll(b *testing.B)            { eventstoretest.BenchReadAll(b, benchOpen) }
func BenchmarkFollow(b *testing.B)             { eventstoretest.BenchFollow(b, benchOpen) }
