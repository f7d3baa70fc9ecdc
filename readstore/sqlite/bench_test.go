package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
)

// BenchmarkFindRangeSorted: 10,000 documents with an indexed numeric field,
// a range filter on it, sorted by it, 50 per page.
func BenchmarkFindRangeSorted(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
	ctx := context.Background()
	ns := readstore.NS{App: "bench", Coll: "items"}
	if err := s.EnsureIndex(ctx, ns, "price"); err != nil {
		b.Fatal(err)
	}
	docs := make([]readstore.Doc, 10000)
	for i := range docs {
		docs[i] = readstore.Doc{
			"_id":   fmt.Sprintf("%024x", i*7919%10000),
			"price": float64(i%1000) + 0.5,
			"name":  fmt.Sprintf("item %d", i),
			"tags":  []any{"a", "b"},
			"owner": map[string]any{"id": fmt.Sprint(i % 97)},
		}
	}
	batchPut(b, s, ns, docs...)
	f := readstore.Find{
		Filter: &query.And{Exprs: []query.Expr{
			&query.Cmp{Field: "price", Op: query.Gte, Value: 250.0},
			&query.Cmp{Field: "price", Op: query.Lt, Value: 750.0},
		}},
		Sort:  []query.SortField{{Field: "price"}},
		Limit: 50,
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := s.Find(ctx, ns, f)
		if err != nil || len(got) != 50 {
			b.Fatalf("Find = %d docs, %v", len(got), err)
		}
	}
}

// BenchmarkBatchPut: one document per Put, 100 Puts per batch.
func BenchmarkBatchPut(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
	ctx := context.Background()
	ns := readstore.NS{App: "bench", Coll: "items"}
	if err := s.EnsureIndex(ctx, ns, "price"); err != nil {
		b.Fatal(err)
	}
	doc := readstore.Doc{"_id": "", "price": 1.5, "name": "item", "tags": []any{"a", "b"}, "owner": map[string]any{"id": "u1"}}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		err := s.Batch(ctx, func(w readstore.Writer) error {
			for range 100 {
				n++
				doc["_id"] = fmt.Sprintf("%024x", n)
				if err := w.Put(ns, doc); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
