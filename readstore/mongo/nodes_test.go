package mongo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventbase/eventbase/internal/mongotest"
	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
)

// simEvent is an entry of a simulated log, shaped like the events the
// projections consume: put and del carry the resulting document, set
// carries a partial change that the projection merges into the current
// document through Writer.Get (as the apps and users projections do),
// skipping a document that is gone.
type simEvent struct {
	pos  int64
	ns   readstore.NS
	id   string
	kind string // "put", "del", "set"
	doc  readstore.Doc
}

var simNS = []readstore.NS{{App: "a1", Coll: "docs"}, {Coll: "apps"}}

func simLog(r *rand.Rand, n int) []simEvent {
	log := make([]simEvent, n)
	for i := range log {
		pos := int64(i + 1)
		e := simEvent{pos: pos, ns: simNS[r.IntN(len(simNS))], id: fmt.Sprint("d", r.IntN(12))}
		switch k := r.IntN(10); {
		case k < 5:
			e.kind, e.doc = "put", readstore.Doc{"_id": e.id, "v": float64(pos), "_eb_pos": float64(-pos)}
		case k < 7:
			e.kind = "del"
		default:
			e.kind, e.doc = "set", readstore.Doc{fmt.Sprint("f", r.IntN(3)): float64(pos)}
		}
		log[i] = e
	}
	return log
}

func (e simEvent) apply(w readstore.Writer) error {
	switch e.kind {
	case "put":
		return w.Put(e.ns, maps.Clone(e.doc))
	case "del":
		return w.Delete(e.ns, e.id)
	}
	doc, err := w.Get(e.ns, e.id)
	if errors.Is(err, readstore.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	maps.Copy(doc, e.doc)
	return w.Put(e.ns, doc)
}

// simBatch applies evs as the projection runner does: each write told its
// event's position, then the checkpoint.
func simBatch(ctx context.Context, s *Store, evs []simEvent) error {
	return s.Batch(ctx, func(w readstore.Writer) error {
		for _, e := range evs {
			w.(readstore.PositionedWriter).At(e.pos)
			if err := e.apply(w); err != nil {
				return err
			}
		}
		return w.SetCheckpoint("sim", evs[len(evs)-1].pos)
	})
}

// simModel is the log applied in order to plain maps.
func simModel(log []simEvent) map[readstore.NS][]readstore.Doc {
	state := map[readstore.NS]map[string]readstore.Doc{}
	for _, e := range log {
		m := state[e.ns]
		if m == nil {
			m = map[string]readstore.Doc{}
			state[e.ns] = m
		}
		switch e.kind {
		case "put":
			m[e.id] = maps.Clone(e.doc)
		case "del":
			delete(m, e.id)
		case "set":
			if d, ok := m[e.id]; ok {
				maps.Copy(d, e.doc)
			}
		}
	}
	out := map[readstore.NS][]readstore.Doc{}
	for ns, m := range state {
		for _, id := range slices.Sorted(maps.Keys(m)) {
			out[ns] = append(out[ns], m[id])
		}
	}
	return out
}

func simState(t *testing.T, s *Store) map[readstore.NS][]readstore.Doc {
	t.Helper()
	out := map[readstore.NS][]readstore.Doc{}
	for _, ns := range simNS {
		docs, err := s.Find(context.Background(), ns, readstore.Find{Sort: []query.SortField{{Field: "_id"}}})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := s.Count(context.Background(), ns, nil); err != nil || n != int64(len(docs)) {
			t.Fatalf("Count(%v) = %d, %v; Find found %d", ns, n, err, len(docs))
		}
		if len(docs) > 0 {
			out[ns] = docs
		}
	}
	return out
}

// TestTwoNodesConverge: two stores on one database, as two nodes running
// their own projections over shared read models, apply the same log
// concurrently, in batches cut differently, each re-applying some of its
// earlier batches (a crash mid-batch, a node falling behind). The result is
// what one node applying the log in order gets, and the shared checkpoint
// never goes back.
func TestTwoNodesConverge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	uri := mongotest.URI(t)
	for round := range 3 {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(round), 42))
			log := simLog(r, 400)
			want := simModel(log)

			single, err := Open(ctx, uri, mongotest.DBName("one"))
			if err != nil {
				t.Fatal(err)
			}
			defer single.Close()
			for i := 0; i < len(log); i += 25 {
				if err := simBatch(ctx, single, log[i:min(i+25, len(log))]); err != nil {
					t.Fatal(err)
				}
			}
			if got := simState(t, single); !reflect.DeepEqual(got, want) {
				t.Fatalf("in-order application:\n got %v\nwant %v", got, want)
			}

			prefix := mongotest.DBName("two")
			var nodes [2]*Store
			for i := range nodes {
				if nodes[i], err = Open(ctx, uri, prefix); err != nil {
					t.Fatal(err)
				}
				defer nodes[i].Close()
			}
			done := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, len(nodes)+1)
			wg.Go(func() {
				// The checkpoint as any node reads it before resuming.
				var last int64
				for {
					pos, err := nodes[0].Checkpoint(ctx, "sim")
					if err != nil {
						errs <- err
						return
					}
					if pos < last {
						errs <- fmt.Errorf("checkpoint went back from %d to %d", last, pos)
						return
					}
					last = pos
					select {
					case <-done:
						return
					case <-time.After(time.Millisecond):
					}
				}
			})
			var nodesWG sync.WaitGroup
			for i, node := range nodes {
				seed := r.Uint64()
				nodesWG.Go(func() {
					r := rand.New(rand.NewPCG(seed, uint64(i)))
					var batches [][]simEvent
					for start := 0; start < len(log); {
						end := min(start+1+r.IntN(16), len(log))
						batches = append(batches, log[start:end])
						start = end
					}
					for j, b := range batches {
						if err := simBatch(ctx, node, b); err != nil {
							errs <- fmt.Errorf("node %d: %w", i, err)
							return
						}
						if r.IntN(4) == 0 {
							old := batches[r.IntN(j+1)]
							if err := simBatch(ctx, node, old); err != nil {
								errs <- fmt.Errorf("node %d re-applying: %w", i, err)
								return
							}
						}
						if r.IntN(8) == 0 {
							time.Sleep(time.Duration(r.IntN(3)) * time.Millisecond)
						}
					}
				})
			}
			nodesWG.Wait()
			close(done)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for i, node := range nodes {
				if got := simState(t, node); !reflect.DeepEqual(got, want) {
					t.Fatalf("node %d sees:\n %v\nwant %v", i, got, want)
				}
				if pos, err := node.Checkpoint(ctx, "sim"); err != nil || pos != int64(len(log)) {
					t.Fatalf("node %d: checkpoint = %d, %v; want %d", i, pos, err, len(log))
				}
			}
			nss, err := nodes[0].Namespaces(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if wantNS := slices.SortedFunc(maps.Keys(want), func(a, b readstore.NS) int {
				return cmpNS(a, b)
			}); !slices.Equal(nss, wantNS) {
				t.Fatalf("Namespaces = %v, want %v", nss, wantNS)
			}
		})
	}
}

func cmpNS(a, b readstore.NS) int {
	if a.App != b.App {
		if a.App < b.App {
			return -1
		}
		return 1
	}
	if a.Coll < b.Coll {
		return -1
	}
	if a.Coll > b.Coll {
		return 1
	}
	return 0
}

// TestStoredForm: what positioned writes leave in the collection, as a user
// would see it in their own tools.
func TestStoredForm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := connect(t)
	prefix := mongotest.DBName("sf")
	s, err := New(client, prefix)
	if err != nil {
		t.Fatal(err)
	}
	ns := readstore.NS{App: "a", Coll: "c"}
	c := client.Database(prefix + "_a").Collection("c")
	stored := func() string {
		t.Helper()
		raw, err := c.FindOne(ctx, bson.D{{Key: "_id", Value: "d"}}).Raw()
		if err != nil {
			t.Fatal(err)
		}
		return raw.String()
	}
	batch := func(fn func(w readstore.Writer) error) {
		t.Helper()
		if err := s.Batch(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	batch(func(w readstore.Writer) error {
		w.(readstore.PositionedWriter).At(5)
		return w.Put(ns, readstore.Doc{"_id": "d", "_eb_pos": "mine", "x": 1.0})
	})
	if got, want := stored(), `{"_id": "d","_eb__eb_pos": "mine","x": {"$numberDouble":"1.0"},"_eb_pos": {"$numberLong":"5"}}`; got != want {
		t.Errorf("stored document = %s, want %s", got, want)
	}
	batch(func(w readstore.Writer) error {
		w.(readstore.PositionedWriter).At(6)
		return w.Delete(ns, "d")
	})
	if got, want := stored(), `{"_id": "d","_eb_pos": {"$numberLong":"6"},"_eb_deleted": true}`; got != want {
		t.Errorf("tombstone = %s, want %s", got, want)
	}
	if _, err := s.Get(ctx, ns, "d"); !errors.Is(err, readstore.ErrNotFound) {
		t.Errorf("Get of a tombstone = %v", err)
	}
	var cp bson.M
	if err := client.Database(prefix).Collection(checkpointsColl).FindOne(ctx, bson.D{}).Decode(&cp); err == nil {
		t.Errorf("a batch without checkpoints wrote %v", cp)
	}
}

// TestOtherWriteErrorsFail: only a write superseded by a later position is
// skipped; a duplicate key on another unique index, which read models do
// not have unless someone adds one by hand, fails the batch.
func TestOtherWriteErrorsFail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := connect(t)
	prefix := mongotest.DBName("we")
	s, err := New(client, prefix)
	if err != nil {
		t.Fatal(err)
	}
	ns := readstore.NS{App: "a", Coll: "c"}
	c := client.Database(prefix + "_a").Collection("c")
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "u", Value: 1}}, Options: options.Index().SetUnique(true)}); err != nil {
		t.Fatal(err)
	}
	putAt := func(pos int64, doc readstore.Doc) error {
		return s.Batch(ctx, func(w readstore.Writer) error {
			w.(readstore.PositionedWriter).At(pos)
			return w.Put(ns, doc)
		})
	}
	if err := putAt(1, readstore.Doc{"_id": "a", "u": 1.0}); err != nil {
		t.Fatal(err)
	}
	if err := putAt(2, readstore.Doc{"_id": "b", "u": 1.0}); err == nil {
		t.Fatal("a write breaking a unique index succeeded")
	}
	if _, err := s.Get(ctx, ns, "b"); !errors.Is(err, readstore.ErrNotFound) {
		t.Fatalf("Get(b) = %v", err)
	}
	if err := putAt(1, readstore.Doc{"_id": "a", "u": 2.0}); err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Batch(canceled, func(w readstore.Writer) error {
		w.(readstore.PositionedWriter).At(3)
		return w.Put(ns, readstore.Doc{"_id": "a"})
	}); err == nil {
		t.Fatal("a batch on a canceled context succeeded")
	}
}
