package query

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// memStore is the reference a store must behave like: Find filters with
// Match and orders with CompareDocs.
type memStore map[string]map[string]any

func (m memStore) find(filter Expr, sort []SortField, limit int) []map[string]any {
	var out []map[string]any
	for _, d := range m {
		if Match(filter, d) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b map[string]any) int { return CompareDocs(sort, a, b) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}

// TestKeysetPaging pages through mixed-type data with cursors while
// documents are inserted and deleted between pages: every document present
// from start to end is seen exactly once and pages come out in order.
func TestKeysetPaging(t *testing.T) {
	t.Parallel()
	values := []string{`null`, `1`, `2`, `2`, `-7.5`, `"a"`, `"b"`, `"b"`, `{"x":1}`, `true`, `false`, `10`}
	sorts := []string{"p", "-p", "p,-q", "-q,p", "-_id", "q,_id", "-p,-_id", "r.s,-p"}
	for _, s := range sorts {
		t.Run(s, func(t *testing.T) {
			t.Parallel()
			sort, err := ParseSort(s)
			if err != nil {
				t.Fatal(err)
			}
			store := memStore{}
			add := func(id string, p string, q float64) {
				d := map[string]any{"_id": id, "q": q, "r": map[string]any{"s": q * 2}}
				if p != "missing" {
					var v any
					_ = json.Unmarshal([]byte(p), &v)
					d["p"] = v
				}
				store[id] = d
			}
			for i, v := range values {
				add(fmt.Sprintf("a%02d", i), v, float64(i%3))
			}
			add("a99", "missing", 1)
			stable := map[string]bool{}
			for id := range store {
				stable[id] = true
			}
			var seen []map[string]any
			var filter Expr
			for page := 0; ; page++ {
				got := store.find(filter, sort, 3)
				if len(got) == 0 {
					break
				}
				seen = append(seen, got...)
				cur := EncodeCursor(sort, got[len(got)-1])
				last, err := DecodeCursor(sort, cur)
				if err != nil {
					t.Fatalf("DecodeCursor(%s): %v", cur, err)
				}
				filter = After(sort, last)
				if _, err := Format(filter); err != nil {
					t.Fatalf("Format(After): %v", err)
				}
				// Writes between pages: new documents on both sides of the
				// cursor, and a deletion of one not yet seen.
				add(fmt.Sprintf("b%02d", page), values[page%len(values)], float64(page%3))
				add(fmt.Sprintf("c%02d", page), "missing", 2)
				if page == 1 {
					for id := range store {
						if !slices.ContainsFunc(seen, func(d map[string]any) bool { return d["_id"] == id }) && stable[id] {
							delete(store, id)
							delete(stable, id)
							break
						}
					}
				}
			}
			for i := 1; i < len(seen); i++ {
				if CompareDocs(sort, seen[i-1], seen[i]) >= 0 {
					t.Fatalf("page order broken at %v then %v", seen[i-1], seen[i])
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

func TestDecodeCursorErrors(t *testing.T) {
	t.Parallel()
	sort := []SortField{{Field: "a.b"}, {Field: "c", Desc: true}}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	good := enc(`{"v":[1,"x"],"id":"i1"}`)
	last, err := DecodeCursor(sort, good)
	if err != nil {
		t.Fatalf("DecodeCursor(good): %v", err)
	}
	want := map[string]any{"_id": "i1", "a": map[string]any{"b": 1.0}, "c": "x"}
	if fmt.Sprint(last) != fmt.Sprint(want) {
		t.Fatalf("DecodeCursor = %v, want %v", last, want)
	}
	for _, c := range []string{
		"",
		"!!!",
		enc(`{}`),
		enc(`{"v":[1],"id":"i1"}`),
		enc(`{"v":[1,2,3],"id":"i1"}`),
		enc(`{"v":[1,2]}`),
		enc(`{"v":[1,2],"id":7}`),
		enc(`{"v":[{"$where":"1"},2],"id":"i1"}`),
		enc(`{"v":[1,2],"id":"i1"} x`),
		enc(`{"v":[1,2],"id":"i1","w":1}`),
		enc(`{"v":[1,2],"id":"i1"}`) + "=",
		enc(`{"v":[` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `,2],"id":"i1"}`),
		strings.Repeat("A", MaxCursorLen+1),
	} {
		if _, err := DecodeCursor(sort, c); err == nil || err.Error() != "invalid cursor" {
			t.Errorf("DecodeCursor(%q) error = %v, want invalid cursor", c, err)
		}
	}
	idSort := []SortField{{Field: "_id", Desc: true}}
	if _, err := DecodeCursor(idSort, enc(`{"v":["i2"],"id":"i1"}`)); err == nil {
		t.Error("a cursor whose _id sort value differs from its id must be rejected")
	}
}

func TestAfterShape(t *testing.T) {
	t.Parallel()
	last := map[string]any{"_id": "k", "p": 5.0, "q": "s"}
	tests := []struct {
		sort string
		want string
	}{
		{"", `{"_id":{"$gt":"k"}}`},
		{"-_id", `{"_id":{"$lt":"k"}}`},
		{"p", `{"$or":[{"$or":[{"p":{"$gt":5}},{"p":{"$gte":""}},{"p":{"$gte":{}}},{"p":{"$in":[false,true]}}]},{"_id":{"$gt":"k"},"p":{"$eq":5}}]}`},
		{"-q", `{"$or":[{"$or":[{"q":{"$lt":"s"}},{"q":{"$gte":-1.7976931348623157e+308}},{"q":{"$eq":null}}]},{"_id":{"$gt":"k"},"q":{"$eq":"s"}}]}`},
		{"-missing", `{"_id":{"$gt":"k"},"missing":{"$eq":null}}`},
		{"missing", `{"$or":[{"missing":{"$ne":null}},{"_id":{"$gt":"k"},"missing":{"$eq":null}}]}`},
	}
	for _, tt := range tests {
		sort, _ := ParseSort(tt.sort)
		m, err := Format(After(sort, last))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(m)
		if string(got) != tt.want {
			t.Errorf("After(%q) = %s\nwant %s", tt.sort, got, tt.want)
		}
	}
}
