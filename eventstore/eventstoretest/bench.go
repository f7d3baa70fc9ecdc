package eventstoretest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/eventbase/eventbase/eventstore"
)

// The benchmarks every adapter runs, from its own Benchmark functions (so
// `go test -bench Append` keeps its names): open returns a fresh store that
// the benchmark closes.

var benchPayload = json.RawMessage(`{"title":"hello","price":12.5,"tags":["a","b"]}`)

func benchStore(b *testing.B, open func(b *testing.B) eventstore.Store) eventstore.Store {
	s := open(b)
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchAppend measures durable single-event appends from one writer: every
// append waits for its own commit.
func BenchAppend(b *testing.B, open func(b *testing.B) eventstore.Store) {
	s := benchStore(b, open)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Append(ctx, eventstore.Append{AppID: "app", StreamID: "s", Expected: int64(i),
			Events: []eventstore.Proposed{{Type: "document_created", Payload: benchPayload}}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchAppendConcurrent32 measures single-event appends from 32 concurrent
// writers, each on its own stream: the group-commit path.
func BenchAppendConcurrent32(b *testing.B, open func(b *testing.B) eventstore.Store) {
	s := benchStore(b, open)
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

// BenchReadAll measures reading a log of 10,000 events in pages of 1000.
func BenchReadAll(b *testing.B, open func(b *testing.B) eventstore.Store) {
	s := benchStore(b, open)
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

// BenchFollow measures the latency from an append to its delivery to a
// follower.
func BenchFollow(b *testing.B, open func(b *testing.B) eventstore.Store) {
	s := benchStore(b, open)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan int64, 1024)
	go eventstore.Follow(ctx, s, eventstore.Query{}, func(evs []eventstore.Event) error {
		for _, e := range evs {
			got <- e.Position
		}
		return nil
	})
	for i := 0; b.Loop(); i++ {
		evs, err := s.Append(ctx, eventstore.Append{AppID: "app", StreamID: "s", Expected: int64(i),
			Events: []eventstore.Proposed{{Type: "t", Payload: benchPayload}}})
		if err != nil {
			b.Fatal(err)
		}
		for p := range got {
			if p == evs[0].Position {
				break
			}
		}
	}
}
