package query

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// bsonOrder lists JSON values in strictly increasing MongoDB order.
var bsonOrder = []string{
	`null`,
	`-1e300`, `-1`, `0`, `0.5`, `1`, `1e300`,
	`""`, `"A"`, `"a"`, `"a\u0000"`, `"a\u0000b"`, `"ab"`, `"b"`, `"é"`,
	`{}`, `{"a":null}`, `{"a":1}`, `{"a":1,"b":1}`, `{"a":2}`, `{"b":0}`, `{"a":"x"}`, `{"a":{}}`, `{"a":[]}`, `{"a":false}`,
	`[]`, `[null]`, `[1]`, `[1,2]`, `[2]`, `["a"]`, `[{}]`, `[[]]`, `[true]`,
	`false`, `true`,
}

func decodeAll(t testing.TB, raws []string) []any {
	t.Helper()
	out := make([]any, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal([]byte(r), &out[i]); err != nil {
			t.Fatalf("bad JSON %s: %v", r, err)
		}
	}
	return out
}

func TestCompareOrder(t *testing.T) {
	t.Parallel()
	vals := decodeAll(t, bsonOrder)
	for i := range vals {
		for j := range vals {
			want := cmpInt(i, j)
			if got := Compare(vals[i], vals[j]); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", bsonOrder[i], bsonOrder[j], got, want)
			}
			if got := bytes.Compare(appendKey(nil, vals[i]), appendKey(nil, vals[j])); got != want {
				t.Errorf("key order of %s and %s = %d, want %d", bsonOrder[i], bsonOrder[j], got, want)
			}
		}
	}
	if Compare(math.Copysign(0, -1), 0.0) != 0 || !bytes.Equal(appendKey(nil, math.Copysign(0, -1)), appendKey(nil, 0.0)) {
		t.Error("-0 must equal 0")
	}
	if Compare(map[string]any{"a": 1.0, "b": 2.0}, map[string]any{"b": 2.0, "a": 1.0}) != 0 {
		t.Error("objects with the same fields must be equal")
	}
}

func TestParseSort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []SortField
		wantErr string
	}{
		{in: "", want: nil},
		{in: "  ", want: nil},
		{in: "-price,name", want: []SortField{{"price", true}, {"name", false}}},
		{in: "name:desc", want: []SortField{{"name", true}}},
		{in: "name:-1", want: []SortField{{"name", true}}},
		{in: "name:asc", want: []SortField{{"name", false}}},
		{in: "name:1", want: []SortField{{"name", false}}},
		{in: "+name", want: []SortField{{"name", false}}},
		{in: " a.b:desc , -c ", want: []SortField{{"a.b", true}, {"c", true}}},
		{in: "a:b", want: []SortField{{"a:b", false}}},
		{in: "-_id", want: []SortField{{"_id", true}}},
		{in: "a,,b", wantErr: `empty sort field in "a,,b"`},
		{in: "-", wantErr: `empty sort field in "-"`},
		{in: ":desc", wantErr: `empty sort field in ":desc"`},
		{in: "a..b", wantErr: `invalid field name "a..b": empty segment`},
		{in: "$where", wantErr: `invalid field name "$where": segment starts with $`},
		{in: "a,-a.b", wantErr: `sort fields "a" and "a.b" overlap`},
		{in: "a,a:desc", wantErr: `sort fields "a" and "a" overlap`},
		{in: strings.Repeat("a,", 32) + "a", wantErr: `too many sort fields (max 32)`},
	}
	for _, tt := range tests {
		got, err := ParseSort(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseSort(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseSort(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

var sortDocs = []string{
	`{"_id":"d1","p":5,"q":"b"}`,
	`{"_id":"d2","q":"a"}`,
	`{"_id":"d3","p":null,"q":"c"}`,
	`{"_id":"d4","p":"x","q":"a"}`,
	`{"_id":"d5","p":[1,9],"q":"b"}`,
	`{"_id":"d6","p":true,"q":"c"}`,
	`{"_id":"d7","p":{"a":1},"q":"a"}`,
	`{"_id":"d8","p":[],"q":"b"}`,
	`{"_id":"d9","p":5,"q":"a"}`,
	`{"_id":"d10","p":-2,"q":"c"}`,
	`{"_id":"d11","p":[{"r":3},{"r":1}],"q":"b"}`,
}

func decodeDocs(t testing.TB, raws []string) []map[string]any {
	t.Helper()
	out := make([]map[string]any, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal([]byte(r), &out[i]); err != nil {
			t.Fatalf("bad doc %s: %v", r, err)
		}
	}
	return out
}

func ids(docs []map[string]any) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i], _ = d["_id"].(string)
	}
	return out
}

func TestCompareDocs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		sort string
		want []string
	}{
		// Ascending sorts an array by its smallest element, [] first of all.
		{"p", []string{"d8", "d2", "d3", "d10", "d5", "d1", "d9", "d4", "d7", "d11", "d6"}},
		// Descending sorts an array by its largest element, [] last of all.
		{"-p", []string{"d6", "d11", "d7", "d4", "d5", "d1", "d9", "d10", "d2", "d3", "d8"}},
		{"q,-p", []string{"d7", "d4", "d9", "d2", "d11", "d5", "d1", "d8", "d6", "d10", "d3"}},
		{"p.r", []string{"d1", "d10", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9", "d11"}},
		{"-p.r", []string{"d11", "d1", "d10", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9"}},
		{"-_id", []string{"d9", "d8", "d7", "d6", "d5", "d4", "d3", "d2", "d11", "d10", "d1"}},
	}
	docs := decodeDocs(t, sortDocs)
	for _, tt := range tests {
		sort, err := ParseSort(tt.sort)
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Clone(docs)
		slices.SortStableFunc(got, func(a, b map[string]any) int { return CompareDocs(sort, a, b) })
		if !slices.Equal(ids(got), tt.want) {
			t.Errorf("sort %q = %v, want %v", tt.sort, ids(got), tt.want)
		}
		// The byte keys a SQL store sorts by must give the same order.
		for _, a := range docs {
			for _, b := range docs {
				for _, f := range sort {
					want := sortCompare(sortKey(a, f), sortKey(b, f))
					if got := bytes.Compare(AppendSortKey(nil, a, f), AppendSortKey(nil, b, f)); got != want {
						t.Errorf("key order of %v and %v on %v = %d, want %d", a["_id"], b["_id"], f, got, want)
					}
				}
			}
		}
	}
}

func FuzzSortKey(f *testing.F) {
	for i, a := range bsonOrder {
		f.Add(a, bsonOrder[(i*7+3)%len(bsonOrder)])
	}
	f.Add(`{"b":1,"a":[1,{"c":"x"}]}`, `{"a":[1,{"c":"y"}]}`)
	f.Fuzz(func(t *testing.T, a, b string) {
		var x, y any
		if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
			return
		}
		if got, want := bytes.Compare(appendKey(nil, x), appendKey(nil, y)), Compare(x, y); got != want {
			t.Fatalf("key order of %s and %s = %d, Compare = %d", a, b, got, want)
		}
	})
}
