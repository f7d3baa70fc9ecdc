// Package readstoretest is the conformance suite every readstore.Store
// adapter passes: readstoretest.Run(t, open). The expected answers in it are
// MongoDB's, so an adapter that passes behaves like MongoDB and like every
// other adapter for the same data and queries.
package readstoretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
)

// Option adjusts a run of the suite.
type Option func(*suite)

// KnownDivergence names checks that the server under test is known to answer
// differently from MongoDB, for a reason the test output shows when it skips
// them. It is for stand-ins (jongodb): a real MongoDB runs every check.
// Checks are named as their subtests: "filter <json>", "sort <sort>" (with
// " filter <json>" and " limit <n>" when present), "paging <sort>" and
// "arrays <name>".
func KnownDivergence(reason string, checks ...string) Option {
	return func(s *suite) {
		for _, c := range checks {
			s.diverges[c] = reason
		}
	}
}

// Run runs the suite. open must return a new, empty store for each call; the
// suite closes it.
func Run(t *testing.T, open func(t *testing.T) readstore.Store, opts ...Option) {
	s := &suite{open: open, diverges: map[string]string{}}
	for _, o := range opts {
		o(s)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"PutGetReplaceDelete", s.testPutGetReplaceDelete},
		{"RoundTrip", s.testRoundTrip},
		{"InvalidDocuments", s.testInvalidDocuments},
		{"BatchAtomicity", s.testBatchAtomicity},
		{"WriterGet", s.testWriterGet},
		{"Checkpoints", s.testCheckpoints},
		{"Isolation", s.testIsolation},
		{"Namespaces", s.testNamespaces},
		{"Reset", s.testReset},
		{"Filters", s.testFilters},
		{"FiltersIndexedBefore", s.testFiltersIndexedBefore},
		{"FiltersIndexedAfter", s.testFiltersIndexedAfter},
		{"Sorts", s.testSorts},
		{"SortsIndexed", s.testSortsIndexed},
		{"IndexMeetsArrays", s.testIndexMeetsArrays},
		{"Projection", s.testProjection},
		{"Count", s.testCount},
		{"FindErrors", s.testFindErrors},
		{"RandomFilters", s.testRandomFilters},
		{"KeysetPaging", s.testKeysetPaging},
		{"KeysetPagingIndexed", s.testKeysetPagingIndexed},
		{"ConcurrentReadWrite", s.testConcurrentReadWrite},
		{"LaggingWrites", s.testLaggingWrites},
		{"Tombstones", s.testTombstones},
		{"CheckpointsNeverGoBack", s.testCheckpointsNeverGoBack},
		{"ReservedLikeFields", s.testReservedLikeFields},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t)
		})
	}
}

type suite struct {
	open     func(t *testing.T) readstore.Store
	diverges map[string]string // check name -> reason
}

// check runs fn as the subtest name unless the server is known to diverge
// there.
func (s *suite) check(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		if reason, ok := s.diverges[name]; ok {
			t.Skip("known divergence of this server from MongoDB: " + reason)
		}
		fn(t)
	})
}

func (s *suite) store(t *testing.T) readstore.Store {
	t.Helper()
	st := s.open(t)
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

var nsProducts = readstore.NS{App: "app1", Coll: "products"}

func mustDoc(t testing.TB, s string) readstore.Doc {
	t.Helper()
	var d readstore.Doc
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		t.Fatalf("bad document %s: %v", s, err)
	}
	return d
}

func put(t *testing.T, st readstore.Store, ns readstore.NS, docs ...readstore.Doc) {
	t.Helper()
	if err := st.Batch(ctx(t), func(w readstore.Writer) error {
		for _, d := range docs {
			if err := w.Put(ns, d); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("Batch(Put): %v", err)
	}
}

func del(t *testing.T, st readstore.Store, ns readstore.NS, ids ...string) {
	t.Helper()
	if err := st.Batch(ctx(t), func(w readstore.Writer) error {
		for _, id := range ids {
			if err := w.Delete(ns, id); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("Batch(Delete): %v", err)
	}
}

func loadProducts(t *testing.T, st readstore.Store) {
	t.Helper()
	docs := make([]readstore.Doc, len(products))
	for i, p := range products {
		docs[i] = mustDoc(t, p)
	}
	put(t, st, nsProducts, docs...)
}

func ensureIndexes(t *testing.T, st readstore.Store, ns readstore.NS, fields ...string) {
	t.Helper()
	for _, f := range fields {
		if err := st.EnsureIndex(ctx(t), ns, f); err != nil {
			t.Fatalf("EnsureIndex(%q): %v", f, err)
		}
	}
}

func idsOf(docs []readstore.Doc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i], _ = d["_id"].(string)
	}
	return out
}

func find(t *testing.T, st readstore.Store, ns readstore.NS, f readstore.Find) []readstore.Doc {
	t.Helper()
	docs, err := st.Find(ctx(t), ns, f)
	if err != nil {
		t.Fatalf("Find(%+v): %v", f, err)
	}
	return docs
}

func parse(t testing.TB, filter string) query.Expr {
	t.Helper()
	if filter == "" {
		return nil
	}
	e, err := query.Parse(json.RawMessage(filter))
	if err != nil {
		t.Fatalf("Parse(%s): %v", filter, err)
	}
	return e
}

func get(t *testing.T, st readstore.Store, ns readstore.NS, id string) (readstore.Doc, error) {
	t.Helper()
	return st.Get(ctx(t), ns, id)
}

func (s *suite) testPutGetReplaceDelete(t *testing.T) {
	st := s.store(t)
	ns := readstore.NS{App: "a", Coll: "c"}
	if _, err := get(t, st, ns, "x"); !errors.Is(err, readstore.ErrNotFound) {
		t.Fatalf("Get on an unknown namespace: %v, want ErrNotFound", err)
	}
	if docs := find(t, st, ns, readstore.Find{}); len(docs) != 0 || docs == nil {
		t.Fatalf("Find on an unknown namespace = %#v, want an empty slice", docs)
	}
	put(t, st, ns, mustDoc(t, `{"_id":"x","a":1,"b":"two"}`))
	got, err := get(t, st, ns, "x")
	if err != nil || !reflect.DeepEqual(got, mustDoc(t, `{"_id":"x","a":1,"b":"two"}`)) {
		t.Fatalf("Get = %v, %v", got, err)
	}
	if _, err := get(t, st, ns, "y"); !errors.Is(err, readstore.ErrNotFound) {
		t.Fatalf("Get(missing) = %v, want ErrNotFound", err)
	}
	// Put replaces the whole document.
	put(t, st, ns, mustDoc(t, `{"_id":"x","c":[true]}`))
	if got, _ := get(t, st, ns, "x"); !reflect.DeepEqual(got, mustDoc(t, `{"_id":"x","c":[true]}`)) {
		t.Fatalf("after replace Get = %v", got)
	}
	del(t, st, ns, "x", "never-existed")
	if _, err := get(t, st, ns, "x"); !errors.Is(err, readstore.ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	del(t, st, readstore.NS{App: "a", Coll: "never-written"}, "x")
	// The store keeps its own copy: changing the maps afterwards changes nothing.
	doc := mustDoc(t, `{"_id":"m","list":[1],"obj":{"k":"v"}}`)
	put(t, st, ns, doc)
	doc["list"].([]any)[0] = 2.0
	doc["obj"].(map[string]any)["k"] = "changed"
	got, _ = get(t, st, ns, "m")
	if !reflect.DeepEqual(got, mustDoc(t, `{"_id":"m","list":[1],"obj":{"k":"v"}}`)) {
		t.Fatalf("stored document changed with the caller's map: %v", got)
	}
	got["list"] = "mutated"
	if again, _ := get(t, st, ns, "m"); !reflect.DeepEqual(again["list"], []any{1.0}) {
		t.Fatalf("Get returned shared state: %v", again)
	}
}

func (s *suite) testRoundTrip(t *testing.T) {
	st := s.store(t)
	ns := readstore.NS{Coll: "system"}
	doc := readstore.Doc{
		"_id":       "rt",
		"s":         "héllo \"quoted\" \\ back\nslash\t\u0001 <tag>&amp; 日本語 🎉 \u2028",
		"empty":     "",
		"n":         0.1,
		"big":       1e300,
		"small":     -2.5e-8,
		"int":       9007199254740993.0,
		"neg":       -42.0,
		"zero":      0.0,
		"maxf":      math.MaxFloat64,
		"t":         true,
		"f":         false,
		"null":      nil,
		"arr":       []any{1.0, "a", nil, []any{}, map[string]any{}, []any{[]any{2.0}}},
		"obj":       map[string]any{"nested": map[string]any{"deep": []any{map[string]any{"x": 1.0}}}},
		"emptyObj":  map[string]any{},
		"emptyArr":  []any{},
		"key space": 1.0,
		"ключ":      "значение",
		"_version":  3.0,
	}
	put(t, st, ns, doc)
	got, err := get(t, st, ns, "rt")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, doc) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(doc)
		t.Fatalf("round trip changed the document:\n got %s\nwant %s", gj, wj)
	}
	docs := find(t, st, ns, readstore.Find{Filter: parse(t, `{"obj.nested.deep.x":1}`)})
	if len(docs) != 1 || !reflect.DeepEqual(docs[0], doc) {
		t.Fatalf("Find returned %v", docs)
	}
}

func (s *suite) testInvalidDocuments(t *testing.T) {
	st := s.store(t)
	ns := readstore.NS{App: "a", Coll: "c"}
	bad := []readstore.Doc{
		{"a": 1.0},
		{"_id": 5.0},
		{"_id": ""},
		{"_id": "x", "n": 1},
		{"_id": "x", "n": math.NaN()},
		{"_id": "x", "n": math.Inf(1)},
		{"_id": "x", "$set": 1.0},
		{"_id": "x", "a.b": 1.0},
		{"_id": "x", "o": map[string]any{"k\x00": 1.0}},
		{"_id": "x", "s": "\xff"},
		{"_id": "x", "t": time.Now()},
	}
	for _, d := range bad {
		err := st.Batch(ctx(t), func(w readstore.Writer) error { return w.Put(ns, d) })
		if err == nil {
			t.Errorf("Put(%#v) succeeded, want an error", d)
		}
	}
	if n, err := st.Count(ctx(t), ns, nil); err != nil || n != 0 {
		t.Fatalf("after rejected puts Count = %d, %v; want 0", n, err)
	}
}

func (s *suite) testBatchAtomicity(t *testing.T) {
	st := s.store(t)
	ns := readstore.NS{App: "a", Coll: "c"}
	put(t, st, ns, mustDoc(t, `{"_id":"keep","v":1}`))
	boom := errors.New("boom")
	err := st.Batch(ctx(t), func(w readstore.Writer) error {
		if err := w.Put(ns, mustDoc(t, `{"_id":"new","v":2}`)); err != nil {
			return err
		}
		if err := w.Delete(ns, "keep"); err != nil {
			return err
		}
		if err := w.SetCheckpoint("p", 9); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Batch error = %v, want boom", err)
	}
	if ids := idsOf(find(t, st, ns, readstore.Find{})); !slices.Equal(ids, []string{"keep"}) {
		t.Fatalf("after a failed batch: %v, want [keep]", ids)
	}
	if pos, _ := st.Checkpoint(ctx(t), "p"); pos != 0 {
		t.Fatalf("checkpoint of a failed batch = %d, want 0", pos)
	}
	// Many writes across namespaces in one batch, with the checkpoint.
	err = st.Batch(ctx(t), func(w readstore.Writer) error {
		for i := range 50 {
			ns := readstore.NS{App: "a", Coll: fmt.Sprintf("c%d", i%3)}
			if err := w.Put(ns, readstore.Doc{"_id": fmt.Sprintf("d%02d", i), "i": float64(i)}); err != nil {
				return err
			}
		}
		if err := w.Delete(readstore.NS{App: "a", Coll: "c1"}, "d01"); err != nil {
			return err
		}
		return w.SetCheckpoint("p", 50)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{17, 16, 16} {
		if n, _ := st.Count(ctx(t), readstore.NS{App: "a", Coll: fmt.Sprintf("c%d", i)}, nil); n != want {
			t.Errorf("c%d holds %d documents, want %d", i, n, want)
		}
	}
	if pos, _ := st.Checkpoint(ctx(t), "p"); pos != 50 {
		t.Fatalf("checkpoint = %d, want 50", pos)
	}
}

func (s *suite) testWriterGet(t *testing.T) {
	st := s.store(t)
	ns := readstore.NS{App: "a", Coll: "c"}
	put(t, st, ns, mustDoc(t, `{"_id":"old","v":1}`))
	err := st.Batch(ctx(t), func(w readstore.Writer) error {
		if d, err := w.Get(ns, "old"); err != nil || d["v"] != 1.0 {
			return fmt.Errorf("Get(old) = %v, %v", d, err)
		}
		if _, err := w.Get(readstore.NS{App: "a", Coll: "none"}, "x"); !errors.Is(err, readstore.ErrNotFound) {
			return fmt.Errorf("Get on an unknown namespace: %v", err)
		}
		if err := w.Put(ns, mustDoc(t, `{"_id":"new","v":2}`)); err != nil {
			return err
		}
		d, err := w.Get(ns, "new")
		if err != nil || d["v"] != 2.0 {
			return fmt.Errorf("Get(new) in its batch = %v, %v", d, err)
		}
		d["v"] = 3.0 // must not leak into the stored document
		if err := w.Put(ns, mustDoc(t, `{"_id":"old","v":4}`)); err != nil {
			return err
		}
		if d, err := w.Get(ns, "old"); err != nil || d["v"] != 4.0 {
			return fmt.Errorf("Get(old) after Put = %v, %v", d, err)
		}
		if err := w.Delete(ns, "old"); err != nil {
			return err
		}
		if _, err := w.Get(ns, "old"); !errors.Is(err, readstore.ErrNotFound) {
			return fmt.Errorf("Get after Delete in the batch: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := get(t, st, ns, "new"); got["v"] != 2.0 {
		t.Fatalf("new = %v", got)
	}
}

func (s *suite) testCheckpoints(t *testing.T) {
	st := s.store(t)
	if pos, err := st.Checkpoint(ctx(t), "docs"); err != nil || pos != 0 {
		t.Fatalf("Checkpoint(unset) = %d, %v", pos, err)
	}
	set := func(name string, pos int64) {
		if err := st.Batch(ctx(t), func(w readstore.Writer) error { return w.SetCheckpoint(name, pos) }); err != nil {
			t.Fatal(err)
		}
	}
	set("docs", 10)
	set("users", 1<<40)
	set("docs", 12)
	if pos, _ := st.Checkpoint(ctx(t), "docs"); pos != 12 {
		t.Fatalf("docs = %d, want 12", pos)
	}
	if pos, _ := st.Checkpoint(ctx(t), "users"); pos != 1<<40 {
		t.Fatalf("users = %d", pos)
	}
}

func (s *suite) testIsolation(t *testing.T) {
	st := s.store(t)
	a, b, sys, a2 := readstore.NS{App: "A", Coll: "c"}, readstore.NS{App: "B", Coll: "c"}, readstore.NS{Coll: "c"}, readstore.NS{App: "A", Coll: "d"}
	for _, ns := range []readstore.NS{a, b, sys, a2} {
		put(t, st, ns, readstore.Doc{"_id": "same", "owner": ns.App + "/" + ns.Coll}, readstore.Doc{"_id": ns.App + ns.Coll, "owner": ns.App + "/" + ns.Coll})
	}
	for _, ns := range []readstore.NS{a, b, sys, a2} {
		want := ns.App + "/" + ns.Coll
		if d, err := get(t, st, ns, "same"); err != nil || d["owner"] != want {
			t.Errorf("Get(%v, same) = %v, %v", ns, d, err)
		}
		docs := find(t, st, ns, readstore.Find{})
		if len(docs) != 2 {
			t.Errorf("%v holds %d documents, want 2", ns, len(docs))
		}
		for _, d := range docs {
			if d["owner"] != want {
				t.Errorf("%v returned %v", ns, d)
			}
		}
		if n, _ := st.Count(ctx(t), ns, parse(t, `{"owner":{"$ne":"`+want+`"}}`)); n != 0 {
			t.Errorf("%v counts %d foreign documents", ns, n)
		}
	}
	if _, err := get(t, st, a, "Bc"); !errors.Is(err, readstore.ErrNotFound) {
		t.Errorf("app A sees app B's document: %v", err)
	}
	del(t, st, a, "same")
	if _, err := get(t, st, b, "same"); err != nil {
		t.Errorf("deleting in A deleted in B: %v", err)
	}
}

func (s *suite) testNamespaces(t *testing.T) {
	st := s.store(t)
	if nss, err := st.Namespaces(ctx(t)); err != nil || len(nss) != 0 {
		t.Fatalf("Namespaces of an empty store = %v, %v", nss, err)
	}
	for _, ns := range []readstore.NS{{App: "b", Coll: "x"}, {Coll: "apps"}, {App: "a", Coll: "y"}, {App: "a", Coll: "_users"}, {App: "a", Coll: "gone"}} {
		put(t, st, ns, readstore.Doc{"_id": "1"})
	}
	del(t, st, readstore.NS{App: "a", Coll: "gone"}, "1")
	ensureIndexes(t, st, readstore.NS{App: "c", Coll: "indexed-only"}, "f")
	nss, err := st.Namespaces(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []readstore.NS{{Coll: "apps"}, {App: "a", Coll: "_users"}, {App: "a", Coll: "y"}, {App: "b", Coll: "x"}}
	if !slices.Equal(nss, want) {
		t.Fatalf("Namespaces = %v, want %v", nss, want)
	}
}

func (s *suite) testReset(t *testing.T) {
	st := s.store(t)
	loadProducts(t, st)
	ensureIndexes(t, st, nsProducts, "qty")
	put(t, st, readstore.NS{Coll: "apps"}, readstore.Doc{"_id": "a1"})
	if err := st.Batch(ctx(t), func(w readstore.Writer) error { return w.SetCheckpoint("docs", 7) }); err != nil {
		t.Fatal(err)
	}
	if err := st.Reset(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if nss, _ := st.Namespaces(ctx(t)); len(nss) != 0 {
		t.Fatalf("Namespaces after Reset = %v", nss)
	}
	if pos, _ := st.Checkpoint(ctx(t), "docs"); pos != 0 {
		t.Fatalf("checkpoint after Reset = %d", pos)
	}
	if _, err := get(t, st, nsProducts, "p01"); !errors.Is(err, readstore.ErrNotFound) {
		t.Fatalf("Get after Reset: %v", err)
	}
	// The store is usable again, indexes included.
	loadProducts(t, st)
	ensureIndexes(t, st, nsProducts, "qty")
	got := idsOf(find(t, st, nsProducts, readstore.Find{Filter: parse(t, `{"qty":{"$gt":3}}`), Sort: []query.SortField{{Field: "qty"}}}))
	if want := []string{"p12", "p05", "p09", "p01", "p07", "p03", "p10"}; !slices.Equal(got, want) {
		t.Fatalf("after Reset and reload: %v, want %v", got, want)
	}
}

func (s *suite) checkFilters(t *testing.T, st readstore.Store) {
	t.Helper()
	for _, fc := range filterCases {
		s.check(t, "filter "+fc.filter, func(t *testing.T) {
			e := parse(t, fc.filter)
			got := idsOf(find(t, st, nsProducts, readstore.Find{Filter: e}))
			if !slices.Equal(got, fc.want) {
				t.Errorf("Find(%s) = %v, want %v", fc.filter, got, fc.want)
			}
			n, err := st.Count(ctx(t), nsProducts, e)
			if err != nil || n != int64(len(fc.want)) {
				t.Errorf("Count(%s) = %d, %v; want %d", fc.filter, n, err, len(fc.want))
			}
		})
	}
}

func (s *suite) testFilters(t *testing.T) {
	st := s.store(t)
	loadProducts(t, st)
	s.checkFilters(t, st)
}

func (s *suite) testFiltersIndexedBefore(t *testing.T) {
	st := s.store(t)
	ensureIndexes(t, st, nsProducts, productIndexes...)
	loadProducts(t, st)
	s.checkFilters(t, st)
}

func (s *suite) testFiltersIndexedAfter(t *testing.T) {
	st := s.store(t)
	loadProducts(t, st)
	ensureIndexes(t, st, nsProducts, productIndexes...)
	ensureIndexes(t, st, nsProducts, productIndexes...) // idempotent
	s.checkFilters(t, st)
}

func (s *suite) checkSorts(t *testing.T, st readstore.Store) {
	t.Helper()
	for _, sc := range sortCases {
		name := "sort " + sc.sort
		if sc.filter != "" {
			name += " filter " + sc.filter
		}
		if sc.limit > 0 {
			name += fmt.Sprint(" limit ", sc.limit)
		}
		s.check(t, name, func(t *testing.T) {
			sort, err := query.ParseSort(sc.sort)
			if err != nil {
				t.Fatal(err)
			}
			got := idsOf(find(t, st, nsProducts, readstore.Find{Filter: parse(t, sc.filter), Sort: sort, Limit: sc.limit}))
			if !slices.Equal(got, sc.want) {
				t.Errorf("Find(filter %s, sort %q, limit %d) = %v, want %v", sc.filter, sc.sort, sc.limit, got, sc.want)
			}
		})
	}
}

func (s *suite) testSorts(t *testing.T) {
	st := s.store(t)
	loadProducts(t, st)
	s.checkSorts(t, st)
}

func (s *suite) testSortsIndexed(t *testing.T) {
	st := s.store(t)
	ensureIndexes(t, st, nsProducts, productIndexes...)
	loadProducts(t, st)
	s.checkSorts(t, st)
}

// testIndexMeetsArrays indexes a field holding scalars, then writes arrays
// and objects into it: queries and sorts must keep MongoDB's semantics.
func (s *suite) testIndexMeetsArrays(t *testing.T) {
	st := s.store(t)
	ns := readstore.NS{App: "a", Coll: "c"}
	ensureIndexes(t, st, ns, "n", "o.p")
	put(t, st, ns, mustDoc(t, `{"_id":"1","n":5,"o":{"p":1}}`), mustDoc(t, `{"_id":"2","n":7,"o":{"p":2}}`))
	check := func(name, filter, sort string, want ...string) {
		t.Helper()
		s.check(t, "arrays "+name, func(t *testing.T) {
			so, _ := query.ParseSort(sort)
			if got := idsOf(find(t, st, ns, readstore.Find{Filter: parse(t, filter), Sort: so})); !slices.Equal(got, want) {
				t.Errorf("Find(%s, %q) = %v, want %v", filter, sort, got, want)
			}
		})
	}
	check("scalars", `{"n":{"$gte":5}}`, "-n", "2", "1")
	put(t, st, ns, mustDoc(t, `{"_id":"3","n":[1,9],"o":[{"p":3},{"p":0}]}`), mustDoc(t, `{"_id":"4","n":{"x":1},"o":{"p":{"q":1}}}`))
	check("range", `{"n":{"$gte":5}}`, "-n", "3", "2", "1")
	check("element", `{"n":1}`, "", "3")
	check("object", `{"n":{"x":1}}`, "", "4")
	check("sort n", `{}`, "n", "3", "1", "2", "4")
	check("sort -n", `{}`, "-n", "4", "3", "2", "1")
	check("sort o.p", `{"o.p":{"$lt":2}}`, "o.p", "3", "1")
	check("sort -o.p", `{}`, "-o.p", "4", "3", "2", "1")
}

func (s *suite) testProjection(t *testing.T) {
	st := s.store(t)
	loadProducts(t, st)
	for _, pc := range projectionCases {
		docs := find(t, st, nsProducts, readstore.Find{Filter: &query.Cmp{Field: "_id", Op: query.Eq, Value: pc.id}, Fields: pc.fields})
		if len(docs) != 1 || !reflect.DeepEqual(docs[0], mustDoc(t, pc.want)) {
			got, _ := json.Marshal(docs)
			t.Errorf("Find(%s, fields %v) = %s, want [%s]", pc.id, pc.fields, got, pc.want)
		}
	}
	docs := find(t, st, nsProducts, readstore.Find{Fields: []string{"qty"}, Sort: []query.SortField{{Field: "qty", Desc: true}}, Limit: 2})
	want := []readstore.Doc{{"_id": "p10", "qty": 200.0}, {"_id": "p03", "qty": 100.0}}
	if !reflect.DeepEqual(docs, want) {
		t.Errorf("projected sorted page = %v, want %v", docs, want)
	}
}

func (s *suite) testCount(t *testing.T) {
	st := s.store(t)
	if n, err := st.Count(ctx(t), nsProducts, nil); err != nil || n != 0 {
		t.Fatalf("Count on an unknown namespace = %d, %v", n, err)
	}
	loadProducts(t, st)
	if n, _ := st.Count(ctx(t), nsProducts, nil); n != 12 {
		t.Fatalf("Count(nil) = %d, want 12", n)
	}
	if n, _ := st.Count(ctx(t), nsProducts, parse(t, `{"tags":"fruit"}`)); n != 8 {
		t.Fatalf("Count(tags fruit) = %d, want 8", n)
	}
}

func (s *suite) testFindErrors(t *testing.T) {
	st := s.store(t)
	loadProducts(t, st)
	var qe *query.Error
	if _, err := st.Find(ctx(t), nsProducts, readstore.Find{Fields: []string{"a", "a.b"}}); !errors.As(err, &qe) {
		t.Errorf("overlapping projection: %v, want a *query.Error", err)
	}
	if _, err := st.Find(ctx(t), nsProducts, readstore.Find{Limit: -1}); err == nil {
		t.Error("negative limit accepted")
	}
	if got := find(t, st, nsProducts, readstore.Find{Limit: 0}); len(got) != 12 {
		t.Errorf("limit 0 returned %d documents, want all 12", len(got))
	}
}

// testRandomFilters runs random filters over random documents: the store
// must select exactly what query.Match selects. Check "random filters".
func (s *suite) testRandomFilters(t *testing.T) {
	s.check(t, "random filters", s.randomFilters)
}

func (s *suite) randomFilters(t *testing.T) {
	st := s.store(t)
	ns := readstore.NS{App: "a", Coll: "random"}
	r := rand.New(rand.NewPCG(7, 11))
	var docs []readstore.Doc
	for i := range 120 {
		docs = append(docs, RandomDoc(r, fmt.Sprintf("r%03d", i)))
	}
	put(t, st, ns, docs...)
	ensureIndexes(t, st, ns, "b", "c.d")
	for n := 0; n < 300; {
		raw, _ := json.Marshal(RandomFilter(r))
		e, err := query.Parse(raw)
		if err != nil {
			continue
		}
		n++
		want := []string{}
		for _, d := range docs {
			if query.Match(e, d) {
				want = append(want, d["_id"].(string))
			}
		}
		if got := idsOf(find(t, st, ns, readstore.Find{Filter: e})); !slices.Equal(got, want) {
			t.Fatalf("Find(%s) = %v, want %v", raw, got, want)
		}
	}
}

// pageAll lists ns in pages of size through cursors, calling between after
// each page: every document present from start to end must be seen once.
func pageAll(t *testing.T, st readstore.Store, ns readstore.NS, sort []query.SortField, size int, between func(page int)) []readstore.Doc {
	t.Helper()
	var seen []readstore.Doc
	var filter query.Expr
	for page := 0; page < 100; page++ {
		docs := find(t, st, ns, readstore.Find{Filter: filter, Sort: sort, Limit: size})
		if len(docs) == 0 {
			return seen
		}
		seen = append(seen, docs...)
		cursor := query.EncodeCursor(sort, docs[len(docs)-1])
		last, err := query.DecodeCursor(sort, cursor)
		if err != nil {
			t.Fatalf("DecodeCursor: %v", err)
		}
		filter = query.After(sort, last)
		between(page)
	}
	t.Fatal("paging did not end")
	return nil
}

func (s *suite) keysetPaging(t *testing.T, indexed bool) {
	st := s.store(t)
	values := []any{nil, 1.0, 2.0, 2.0, 2.0, -7.5, "a", "b", "b", true, false, 10.0, map[string]any{"x": 1.0}}
	mk := func(id string, i int) readstore.Doc {
		d := readstore.Doc{"_id": id, "group": float64(i % 3)}
		if i%len(values) != 4 { // one value in each round stays missing
			d["score"] = values[i%len(values)]
		}
		return d
	}
	for _, sortText := range []string{"", "score", "-score", "group,-score", "-group,score", "-_id"} {
		s.check(t, "paging "+sortText, func(t *testing.T) {
			ns := readstore.NS{App: "a", Coll: "pages" + sortText}
			if indexed {
				ensureIndexes(t, st, ns, "score", "group")
			}
			var docs []readstore.Doc
			for i := range 30 {
				docs = append(docs, mk(fmt.Sprintf("d%03d", i*10), i))
			}
			put(t, st, ns, docs...)
			stable := map[string]bool{}
			for _, d := range docs {
				stable[d["_id"].(string)] = true
			}
			sort, _ := query.ParseSort(sortText)
			seen := pageAll(t, st, ns, sort, 4, func(page int) {
				if page >= 5 {
					return
				}
				// Inserts that sort before and after the cursor, and a
				// deletion of a document not seen yet.
				put(t, st, ns, mk(fmt.Sprintf("d%03d", page*10+5), page+1), mk(fmt.Sprintf("e%03d", page), page*7))
				if page == 2 {
					del(t, st, ns, "d250")
					delete(stable, "d250")
				}
			})
			for i := 1; i < len(seen); i++ {
				if query.CompareDocs(sort, seen[i-1], seen[i]) >= 0 {
					t.Fatalf("pages out of order: %v before %v", seen[i-1], seen[i])
				}
			}
			count := map[string]int{}
			for _, d := range seen {
				count[d["_id"].(string)]++
			}
			for id := range stable {
				if count[id] != 1 {
					t.Errorf("document %s seen %d times", id, count[id])
				}
			}
		})
	}
}

func (s *suite) testKeysetPaging(t *testing.T)        { s.keysetPaging(t, false) }
func (s *suite) testKeysetPagingIndexed(t *testing.T) { s.keysetPaging(t, true) }

// testConcurrentReadWrite reads while batches commit. Whether a read can see
// part of a batch is the adapter's business (MongoDB without transactions
// can); reads must not fail and every write must land.
func (s *suite) testConcurrentReadWrite(t *testing.T) {
	st := s.store(t)
	ns := readstore.NS{App: "a", Coll: "c"}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 20 {
			err := st.Batch(ctx(t), func(w readstore.Writer) error {
				for j := range 5 {
					if err := w.Put(ns, readstore.Doc{"_id": fmt.Sprintf("%02d-%d", i, j), "batch": float64(i)}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 20 {
			if _, err := st.Find(ctx(t), ns, readstore.Find{Sort: []query.SortField{{Field: "batch", Desc: true}}}); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, _ := st.Count(ctx(t), ns, nil); n != 100 {
		t.Fatalf("Count = %d, want 100", n)
	}
}
