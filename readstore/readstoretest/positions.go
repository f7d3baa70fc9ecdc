package readstoretest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
)

// write is one write of a batch at a log position: Put when doc is set,
// else Delete of id. pos 0 writes without a position.
type write struct {
	pos int64
	id  string
	doc readstore.Doc
}

func putAt(pos int64, doc readstore.Doc) write {
	return write{pos: pos, id: doc["_id"].(string), doc: doc}
}
func delAt(pos int64, id string) write { return write{pos: pos, id: id} }

// apply runs writes in one batch, telling the writer their positions when
// it is a readstore.PositionedWriter, as the projection runner does, then
// sets checkpoint "p" to cp unless cp is 0.
func apply(t *testing.T, st readstore.Store, ns readstore.NS, cp int64, writes ...write) {
	t.Helper()
	err := st.Batch(ctx(t), func(w readstore.Writer) error {
		pw, _ := w.(readstore.PositionedWriter)
		for _, wr := range writes {
			if pw != nil {
				pw.At(wr.pos)
			}
			var err error
			if wr.doc != nil {
				err = w.Put(ns, wr.doc)
			} else {
				err = w.Delete(ns, wr.id)
			}
			if err != nil {
				return err
			}
		}
		if cp != 0 {
			return w.SetCheckpoint("p", cp)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Batch: %v", err)
	}
}

// positioned reports whether st's writers implement
// readstore.PositionedWriter.
func positioned(t *testing.T, st readstore.Store) bool {
	t.Helper()
	var ok bool
	if err := st.Batch(ctx(t), func(w readstore.Writer) error {
		_, ok = w.(readstore.PositionedWriter)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ok
}

const notPositioned = "the store's writers are not readstore.PositionedWriter: one process owns it and commits each batch whole, so no write comes from behind"

// wantDocs checks that ns holds exactly want, through every read.
func wantDocs(t *testing.T, st readstore.Store, ns readstore.NS, want ...readstore.Doc) {
	t.Helper()
	got := find(t, st, ns, readstore.Find{Sort: []query.SortField{{Field: "_id"}}})
	if !reflect.DeepEqual(got, append([]readstore.Doc{}, want...)) {
		t.Fatalf("Find = %v, want %v", got, want)
	}
	if n, err := st.Count(ctx(t), ns, nil); err != nil || n != int64(len(want)) {
		t.Fatalf("Count = %d, %v; want %d", n, err, len(want))
	}
	for _, d := range want {
		if g, err := get(t, st, ns, d["_id"].(string)); err != nil || !reflect.DeepEqual(g, d) {
			t.Fatalf("Get(%s) = %v, %v; want %v", d["_id"], g, err, d)
		}
	}
}

func wantGone(t *testing.T, st readstore.Store, ns readstore.NS, id string) {
	t.Helper()
	if d, err := get(t, st, ns, id); !errors.Is(err, readstore.ErrNotFound) {
		t.Fatalf("Get(%s) = %v, %v; want ErrNotFound", id, d, err)
	}
	err := st.Batch(ctx(t), func(w readstore.Writer) error {
		if d, err := w.Get(ns, id); !errors.Is(err, readstore.ErrNotFound) {
			return fmt.Errorf("Writer.Get(%s) = %v, %v; want ErrNotFound", id, d, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testLaggingWrites re-applies older batches after newer ones, as a node
// that lags behind another on the same store does, or one that crashed
// mid-batch: the newest state must stay.
func (s *suite) testLaggingWrites(t *testing.T) {
	st := s.store(t)
	if !positioned(t, st) {
		t.Skip(notPositioned)
	}
	ns := readstore.NS{App: "a", Coll: "c"}
	v := func(id string, n float64) readstore.Doc { return readstore.Doc{"_id": id, "v": n} }

	newer := []write{putAt(10, v("x", 10)), putAt(11, v("y", 11)), delAt(12, "y"), putAt(13, v("z", 13)), putAt(14, v("w", 14))}
	apply(t, st, ns, 14, newer...)
	wantDocs(t, st, ns, v("w", 14), v("x", 10), v("z", 13))

	// The older batch: an older put, the creation of a document a later
	// event deleted, the delete of an earlier document with the id of a
	// later one.
	apply(t, st, ns, 9, putAt(5, v("x", 5)), putAt(11, v("y", 11)), delAt(6, "z"), putAt(9, v("n", 9)))
	wantDocs(t, st, ns, v("n", 9), v("w", 14), v("x", 10), v("z", 13))
	wantGone(t, st, ns, "y")

	// The newer batch once more (a crash re-apply): the same state.
	apply(t, st, ns, 14, newer...)
	wantDocs(t, st, ns, v("n", 9), v("w", 14), v("x", 10), v("z", 13))
	wantGone(t, st, ns, "y")
	if pos, _ := st.Checkpoint(ctx(t), "p"); pos != 14 {
		t.Fatalf("checkpoint = %d, want 14", pos)
	}

	// A later event reuses a deleted id; a write from the same position
	// replaces (projections are idempotent, and a new version of one
	// rewrites its documents).
	apply(t, st, ns, 0, putAt(20, v("y", 20)), putAt(14, readstore.Doc{"_id": "w", "v": 14.0, "new": true}))
	wantDocs(t, st, ns, v("n", 9), readstore.Doc{"_id": "w", "v": 14.0, "new": true}, v("x", 10), v("y", 20), v("z", 13))

	// Within a batch the last write to a document counts, whatever the
	// positions; the writer's Get sees it.
	err := st.Batch(ctx(t), func(w readstore.Writer) error {
		pw := w.(readstore.PositionedWriter)
		pw.At(31)
		if err := w.Put(ns, v("m", 31)); err != nil {
			return err
		}
		pw.At(32)
		if err := w.Delete(ns, "m"); err != nil {
			return err
		}
		if _, err := w.Get(ns, "m"); !errors.Is(err, readstore.ErrNotFound) {
			return fmt.Errorf("Writer.Get after Delete: %v", err)
		}
		pw.At(33)
		if err := w.Put(ns, v("m", 33)); err != nil {
			return err
		}
		if d, err := w.Get(ns, "m"); err != nil || !reflect.DeepEqual(d, v("m", 33)) {
			return fmt.Errorf("Writer.Get = %v, %v", d, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if d, err := get(t, st, ns, "m"); err != nil || !reflect.DeepEqual(d, v("m", 33)) {
		t.Fatalf("Get(m) = %v, %v", d, err)
	}

	// Writes without a position take effect outright (a rebuild of one app
	// deletes its documents so, then replays): nothing stays to stop the
	// replay.
	apply(t, st, ns, 0, delAt(0, "x"), putAt(0, v("z", 0)))
	wantGone(t, st, ns, "x")
	apply(t, st, ns, 0, putAt(10, v("x", 10)), putAt(13, v("z", 13)))
	wantDocs(t, st, ns, v("m", 33), v("n", 9), readstore.Doc{"_id": "w", "v": 14.0, "new": true}, v("x", 10), v("y", 20), v("z", 13))
}

// testTombstones: a namespace whose documents were all deleted by
// positioned writes holds none, and Reset lets a replay start over.
func (s *suite) testTombstones(t *testing.T) {
	st := s.store(t)
	if !positioned(t, st) {
		t.Skip(notPositioned)
	}
	gone, kept := readstore.NS{App: "a", Coll: "gone"}, readstore.NS{App: "a", Coll: "kept"}
	apply(t, st, gone, 0, putAt(1, readstore.Doc{"_id": "1"}), putAt(2, readstore.Doc{"_id": "2"}))
	apply(t, st, kept, 0, putAt(3, readstore.Doc{"_id": "1"}))
	apply(t, st, gone, 0, delAt(4, "1"), delAt(5, "2"), delAt(6, "never-existed"))
	wantDocs(t, st, gone)
	if nss, err := st.Namespaces(ctx(t)); err != nil || !slices.Equal(nss, []readstore.NS{kept}) {
		t.Fatalf("Namespaces = %v, %v; want [%v]", nss, err, kept)
	}
	if err := st.Reset(ctx(t)); err != nil {
		t.Fatal(err)
	}
	apply(t, st, gone, 0, putAt(1, readstore.Doc{"_id": "1"}), putAt(2, readstore.Doc{"_id": "never-existed"}))
	wantDocs(t, st, gone, readstore.Doc{"_id": "1"}, readstore.Doc{"_id": "never-existed"})
}

// testCheckpointsNeverGoBack: on stores several processes write, a node
// that lags must not move a checkpoint back.
func (s *suite) testCheckpointsNeverGoBack(t *testing.T) {
	st := s.store(t)
	if !positioned(t, st) {
		t.Skip(notPositioned)
	}
	set := func(pos ...int64) {
		t.Helper()
		if err := st.Batch(ctx(t), func(w readstore.Writer) error {
			for _, p := range pos {
				if err := w.SetCheckpoint("docs", p); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		set  []int64
		want int64
	}{
		{[]int64{10}, 10},
		{[]int64{4}, 10},
		{[]int64{0}, 10},
		{[]int64{10}, 10},
		{[]int64{12}, 12},
		{[]int64{20, 15}, 20},
	} {
		set(step.set...)
		if pos, err := st.Checkpoint(ctx(t), "docs"); err != nil || pos != step.want {
			t.Fatalf("after SetCheckpoint %v: checkpoint = %d, %v; want %d", step.set, pos, err, step.want)
		}
	}
}

// reservedLike are documents whose field names look like what a store may
// keep for itself: they read back exactly as written and take part in
// queries like any other field.
var reservedLike = []string{
	`{"_id":"r1","_pos":3,"_deleted":true,"_eb_pos":7,"_eb_deleted":true,"_eb_":"e","_eb__eb_pos":1,"_eb_x":{"y":1}}`,
	`{"_id":"r2","_pos":1,"_deleted":false,"_eb_pos":"s","_eb_x":{"y":2},"n":[{"_eb_pos":1}]}`,
	`{"_id":"r3","_eb_deleted":{"k":1},"_eb_x":[{"y":3}]}`,
	`{"_id":"r4"}`,
}

func (s *suite) testReservedLikeFields(t *testing.T) {
	st := s.store(t)
	ns := readstore.NS{App: "a", Coll: "reserved"}
	var docs []readstore.Doc
	var writes []write
	for i, raw := range reservedLike {
		d := mustDoc(t, raw)
		docs = append(docs, d)
		writes = append(writes, putAt(int64(i+1), mustDoc(t, raw)))
	}
	apply(t, st, ns, 0, writes...)
	ensureIndexes(t, st, ns, "_eb_pos", "_eb_x.y")
	wantDocs(t, st, ns, docs...)
	if err := st.Batch(ctx(t), func(w readstore.Writer) error {
		for _, d := range docs {
			if got, err := w.Get(ns, d["_id"].(string)); err != nil || !reflect.DeepEqual(got, d) {
				return fmt.Errorf("Writer.Get(%s) = %v, %v", d["_id"], got, err)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ filter, sort string }{
		{`{"_deleted":true}`, ""},
		{`{"_eb_deleted":true}`, ""},
		{`{"_eb_deleted":{"$exists":false}}`, ""},
		{`{"_eb_pos":{"$gte":1}}`, "-_eb_pos"},
		{`{"$or":[{"_eb_x.y":{"$lt":2}},{"_eb_":"e"}]}`, "_eb_x.y"},
		{`{"$and":[{"_eb__eb_pos":1},{"_pos":{"$exists":true}}]}`, ""},
		{`{"_eb_x":{"$elemMatch":{"y":3}}}`, ""},
		{`{"n":{"$elemMatch":{"_eb_pos":1}}}`, ""},
		{`{"_eb_x.y":{"$in":[1,2]}}`, "-_eb_x.y"},
	} {
		e := parse(t, c.filter)
		sort, err := query.ParseSort(c.sort)
		if err != nil {
			t.Fatal(err)
		}
		var want []readstore.Doc
		for _, d := range docs {
			if query.Match(e, d) {
				want = append(want, d)
			}
		}
		slices.SortStableFunc(want, func(a, b readstore.Doc) int { return query.CompareDocs(sort, a, b) })
		got := find(t, st, ns, readstore.Find{Filter: e, Sort: sort})
		if !slices.Equal(idsOf(got), idsOf(want)) || len(want) == 0 {
			t.Errorf("Find(%s, sort %q) = %v, want %v (and not none)", c.filter, c.sort, idsOf(got), idsOf(want))
		}
		if n, err := st.Count(ctx(t), ns, e); err != nil || n != int64(len(want)) {
			t.Errorf("Count(%s) = %d, %v; want %d", c.filter, n, err, len(want))
		}
	}
	got := find(t, st, ns, readstore.Find{Fields: []string{"_eb_pos", "_eb_x.y"}, Sort: []query.SortField{{Field: "_id"}}, Limit: 2})
	want := []readstore.Doc{mustDoc(t, `{"_id":"r1","_eb_pos":7,"_eb_x":{"y":1}}`), mustDoc(t, `{"_id":"r2","_eb_pos":"s","_eb_x":{"y":2}}`)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("projection = %v, want %v", got, want)
	}
}
