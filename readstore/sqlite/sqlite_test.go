package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
	"github.com/eventbase/eventbase/readstore/readstoretest"
	_ "modernc.org/sqlite" // the "sqlite" driver, to inspect the file as another program would
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "eventbase.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	readstoretest.Run(t, func(t *testing.T) readstore.Store { return openTemp(t) })
}

func batchPut(t testing.TB, s *Store, ns readstore.NS, docs ...readstore.Doc) {
	t.Helper()
	err := s.Batch(context.Background(), func(w readstore.Writer) error {
		for _, d := range docs {
			if err := w.Put(ns, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// explain returns SQLite's plan for a Find.
func explain(t *testing.T, s *Store, ns readstore.NS, f readstore.Find) string {
	t.Helper()
	ctx := context.Background()
	tbl := tableName(ns)
	var lines []string
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		_, plain, err := s.meta(ctx, tx, tbl)
		if err != nil {
			return err
		}
		text, c := s.findSQL(tbl, plain, f)
		defer s.plans.remove(c.args[0].(int64))
		rows, err := tx.QueryContext(ctx, "EXPLAIN QUERY PLAN "+text, c.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				return err
			}
			lines = append(lines, detail)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func filter(t testing.TB, s string) query.Expr {
	t.Helper()
	e, err := query.Parse(json.RawMessage(s))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestIndexAnswersQueries proves with EXPLAIN QUERY PLAN that an indexed
// equality, range and sort are answered by the index, and that the index is
// given up once a document holds an array in the field.
func TestIndexAnswersQueries(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	defer s.Close()
	ns := readstore.NS{App: "a", Coll: "items"}
	var docs []readstore.Doc
	for i := range 200 {
		docs = append(docs, readstore.Doc{"_id": fmt.Sprintf("i%03d", i), "price": float64(i % 50), "name": fmt.Sprint("n", i)})
	}
	batchPut(t, s, ns, docs...)
	if err := s.EnsureIndex(context.Background(), ns, "price"); err != nil {
		t.Fatal(err)
	}
	sortAsc := []query.SortField{{Field: "price"}}
	sortDesc := []query.SortField{{Field: "price", Desc: true}}
	tests := []struct {
		name       string
		find       readstore.Find
		want       string
		wantNoSort bool // no full sort step (results come in _id order otherwise)
	}{
		{"equality", readstore.Find{Filter: filter(t, `{"price":7}`)}, "USING INDEX rm_i_", true},
		{"range", readstore.Find{Filter: filter(t, `{"price":{"$gte":10,"$lt":20}}`)}, "USING INDEX rm_i_", false},
		{"in", readstore.Find{Filter: filter(t, `{"price":{"$in":[1,2,3]}}`)}, "USING INDEX rm_i_", false},
		{"range sorted", readstore.Find{Filter: filter(t, `{"price":{"$gt":10}}`), Sort: sortAsc, Limit: 50}, "SEARCH", true},
		{"range sorted descending", readstore.Find{Filter: filter(t, `{"price":{"$gt":10}}`), Sort: sortDesc, Limit: 50}, "USING INDEX rm_i_", true},
		{"sort only", readstore.Find{Sort: sortAsc, Limit: 10}, "SCAN", true},
		{"_id", readstore.Find{Filter: filter(t, `{"_id":"i001"}`)}, "USING INDEX sqlite_autoindex_", true},
	}
	for _, tt := range tests {
		plan := explain(t, s, ns, tt.find)
		if !strings.Contains(plan, tt.want) || (tt.name != "_id" && !strings.Contains(plan, "rm_i_")) {
			t.Errorf("%s: plan does not use the index:\n%s", tt.name, plan)
		}
		if tt.wantNoSort && strings.Contains(plan, "TEMP B-TREE FOR ORDER BY") {
			t.Errorf("%s: plan sorts instead of reading the index in order:\n%s", tt.name, plan)
		}
	}
	if plan := explain(t, s, ns, readstore.Find{Filter: filter(t, `{"name":"n1"}`)}); !strings.Contains(plan, "SCAN") {
		t.Errorf("an unindexed field cannot use an index:\n%s", plan)
	}
	// An array in the field: MongoDB's multikey semantics cannot be read off
	// a scalar index, so the query stops using it and stays correct.
	batchPut(t, s, ns, readstore.Doc{"_id": "arr", "price": []any{7.0, 99.0}})
	if plan := explain(t, s, ns, readstore.Find{Filter: filter(t, `{"price":7}`)}); strings.Contains(plan, "rm_i_") {
		t.Errorf("index still used after an array arrived:\n%s", plan)
	}
	got, err := s.Find(context.Background(), ns, readstore.Find{Filter: filter(t, `{"price":99}`)})
	if err != nil || len(got) != 1 || got[0]["_id"] != "arr" {
		t.Fatalf("Find(price 99) = %v, %v", got, err)
	}
}

// TestBatchVisibility: on SQLite a reader sees a whole batch or none of it.
func TestBatchVisibility(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	defer s.Close()
	ns := readstore.NS{App: "a", Coll: "c"}
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := range 30 {
			docs := make([]readstore.Doc, 5)
			for j := range docs {
				docs[j] = readstore.Doc{"_id": fmt.Sprintf("%02d-%d", i, j)}
			}
			batchPut(t, s, ns, docs...)
		}
	}()
	for {
		n, err := s.Count(context.Background(), ns, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n%5 != 0 {
			t.Fatalf("a reader saw %d documents: part of a batch", n)
		}
		select {
		case <-done:
			wg.Wait()
			return
		default:
		}
	}
}

// TestSharesFileWithEventStore: the event store's table in the same file is
// left alone, Reset included.
func TestSharesFileWithEventStore(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE events (position INTEGER PRIMARY KEY, payload TEXT); INSERT INTO events (payload) VALUES ('{}')`); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	batchPut(t, s, readstore.NS{App: "a", Coll: "c"}, readstore.Doc{"_id": "1"})
	if err := s.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM events`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("events after Reset: %d, %v", n, err)
	}
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		if name != "events" && !strings.HasPrefix(name, "rm_") {
			t.Errorf("unexpected table %q", name)
		}
	}
}

// TestUnusualFieldNames: paths that SQLite's JSON path syntax cannot quote,
// and quotes that must not break out of SQL, still query correctly.
func TestUnusualFieldNames(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	defer s.Close()
	ns := readstore.NS{App: "a", Coll: "c"}
	names := []string{`q"uote`, `back\slash`, `it's`, `a'); DROP TABLE rm_namespaces; --`, "space d", "ünï", "0", "tab\there"}
	for i, n := range names {
		batchPut(t, s, ns, readstore.Doc{"_id": fmt.Sprint(i), n: map[string]any{n: float64(i)}})
	}
	for i, n := range names {
		path := n + "." + n
		f := &query.Cmp{Field: path, Op: query.Gte, Value: float64(i)}
		got, err := s.Find(context.Background(), ns, readstore.Find{Filter: f, Sort: []query.SortField{{Field: path, Desc: true}}})
		if err != nil || len(got) != 1 || got[0]["_id"] != fmt.Sprint(i) {
			t.Errorf("Find(%q >= %d) = %v, %v", path, i, got, err)
		}
	}
	if err := s.EnsureIndex(context.Background(), ns, `q"uote`); err == nil {
		t.Error("EnsureIndex on an unquotable path succeeded")
	}
	if err := s.EnsureIndex(context.Background(), ns, `it's`); err != nil {
		t.Errorf("EnsureIndex(it's): %v", err)
	}
	if nss, err := s.Namespaces(context.Background()); err != nil || len(nss) != 1 {
		t.Fatalf("Namespaces = %v, %v", nss, err)
	}
}

// TestAgreesWithMatch compares SQLite with query.Match and query.CompareDocs
// on random documents and random filters and sorts, with and without
// indexes: the SQL translation must not change an answer.
func TestAgreesWithMatch(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	var docs []readstore.Doc
	for i := range 150 {
		docs = append(docs, readstoretest.RandomDoc(r, fmt.Sprintf("d%03d", i)))
	}
	var filters []query.Expr
	for len(filters) < 400 {
		raw, _ := json.Marshal(readstoretest.RandomFilter(r))
		if e, err := query.Parse(raw); err == nil {
			filters = append(filters, e)
		}
	}
	fields := []string{"a", "b", "c.d", "arr", "arr.d", "c"}
	for _, indexed := range []bool{false, true} {
		s := openTemp(t)
		defer s.Close()
		ns := readstore.NS{App: "a", Coll: "c"}
		if indexed {
			for _, f := range fields {
				if err := s.EnsureIndex(context.Background(), ns, f); err != nil {
					t.Fatal(err)
				}
			}
		}
		batchPut(t, s, ns, docs...)
		for i, e := range filters {
			sort := []query.SortField{{Field: fields[i%len(fields)], Desc: i%2 == 0}}
			if i%3 == 0 {
				sort = append(sort, query.SortField{Field: "b", Desc: i%4 == 0})
			}
			var want []readstore.Doc
			for _, d := range docs {
				if query.Match(e, d) {
					want = append(want, d)
				}
			}
			slices.SortFunc(want, func(a, b readstore.Doc) int { return query.CompareDocs(sort, a, b) })
			got, err := s.Find(context.Background(), ns, readstore.Find{Filter: e, Sort: sort})
			if err != nil {
				t.Fatalf("Find: %v", err)
			}
			if g, w := ids(got), ids(want); !slices.Equal(g, w) {
				m, _ := query.Format(e)
				raw, _ := json.Marshal(m)
				t.Fatalf("indexed=%v filter %s sort %v:\n got %v\nwant %v", indexed, raw, sort, g, w)
			}
		}
	}
}

func ids(docs []readstore.Doc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d["_id"].(string)
	}
	return out
}
