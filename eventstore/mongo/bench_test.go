package mongo_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/eventstore/mongo"
)

// These benchmarks run against jongodb unless EVENTBASE_TEST_MONGODB_URI
// names a real server; jongodb numbers say nothing about MongoDB.

var benchPayload = json.RawMessage(`{"title":"hello","price":12.5,"tags":["a","b"]}`)

func benchStore(b *testing.B) *mongo.Store {
	s, err := openStore(newLocation(b), quiet())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkAppend measures single-event appends from one writer.
func BenchmarkAppend(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Append(ctx, eventstore.Append{AppID: "app", StreamID: "s", Expected: int64(i),
			Events: []eventstore.Proposed{{Type: "document_created", Payload: benchPayload}}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendConcurrent32 measures single-event appends from 32
// concurrent writers, each on its own stream.
func BenchmarkAppendConcurrent32(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16) // 16 × GOMAXPROCS(2) = 32 writers
	b.RunParallel(func(pb *testing.PB) {
		stream := fmt.Sprintf("s%d", next.Add(1))
		v := int64(0)
		for pb.Next() {
			if _, err := s.Append(ctx, eventstore.Append{AppID: "app", StreamID: stream, Expected: v,
				Events: []eventstore.Proposed{{Type: "document_created", Payload: benchPayload}}}); err != nil {
				b.Fatal(err)
			}
			v++
		}
	})
}

// BenchmarkReadAll measures reading the whole log in pages of 1000.
func BenchmarkReadAll(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	const n = 10000
	for i := 0; i < n/100; i++ {
		evs := make([]eventstore.Proposed, 100)
		for j := range evs {
			evs[j] = eventstore.Proposed{Type: "document_created", Payload: benchPayload}
		}
		if _, err := s.Append(ctx, eventstore.Append{AppID: "app", StreamID: fmt.Sprint(i), Expected: 0, Events: evs}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		q := eventstore.Query{Limit: 1000}
		total := 0
		for {
			page, err := s.Read(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			total += len(page)
			q.After = page[len(page)-1].Position
		}
		if total != n {
			b.Fatalf("read %d", total)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
