package mongo_test

import (
	"testing"

	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/eventstore/eventstoretest"
)

// These benchmarks run against jongodb unless EVENTBASE_TEST_MONGODB_URI
// names a real server; jongodb numbers say nothing about MongoDB.

func benchOpen(b *testing.B) eventstore.Store {
	s, err := openStore(newLocation(b), quiet())
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkAppend(b *testing.B)             { eventstoretest.BenchAppend(b, benchOpen) }
func BenchmarkAppendConcurrent32(b *testing.B) { eventstoretest.BenchAppendConcurrent32(b, benchOpen) }
func BenchmarkReadAll(b *testing.B)            { eventstoretest.BenchReadAll(b, benchOpen) }
func BenchmarkFollow(b *testing.B)             { eventstoretest.BenchFollow(b, benchOpen) }
