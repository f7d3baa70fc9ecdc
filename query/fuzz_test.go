package query

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// fuzzDocs are the documents every accepted filter is matched against.
var fuzzDocs = []string{
	`{}`,
	`{"a":5,"b":"x","c":null}`,
	`{"a":[1,"x",null,[2],{"b":3}],"b":{"c":[{"d":1},{"d":"e"}]}}`,
	`{"a":{"b":{"c":true}},"0":[[]],"tags":["a","b"],"items":[{"sku":"a","qty":2},{"sku":"b"}]}`,
}

// FuzzParse feeds Parse arbitrary bytes: it must never panic, every error
// must be a *Error, and every accepted filter must evaluate without panic and
// survive a round trip through Format with the same results.
func FuzzParse(f *testing.F) {
	for _, mt := range matchTests {
		f.Add([]byte(mt.filter))
	}
	for _, s := range []string{
		`{"$where":"1"}`, `{"a":{"$regex":"a+","$options":"imsx"}}`, `{"a":{"$not":{"$not":{"$size":1}}}}`,
		`{"a":{"$elemMatch":{"$elemMatch":{"$elemMatch":{"$gt":1}}}}}`, `{"a.0.1":{"$all":[[1],{"b":[]}]}}`,
		`{"$or":[{"$and":[{"a":1},{"b":{"$exists":1}}]},{"c":{"$nin":[null]}}]}`, `{"a":{"$gt":{"b":[1,{"c":2}]}}}`,
		`{"a":` + strings.Repeat(`[`, 30) + strings.Repeat(`]`, 30) + `}`, `{"a":{"$in":[1e308,-0,"\u0000"]}}`,
	} {
		f.Add([]byte(s))
	}
	docs := make([]map[string]any, len(fuzzDocs))
	for i, s := range fuzzDocs {
		if err := json.Unmarshal([]byte(s), &docs[i]); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := Parse(raw)
		if err != nil {
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("error %v is %T, not *query.Error", err, err)
			}
			return
		}
		m, err := Format(e)
		if err != nil {
			t.Fatalf("Format(Parse(%s)): %v", raw, err)
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("marshal %v: %v", m, err)
		}
		e2, err := Parse(again)
		if err != nil {
			// Spelling out implicit $eq and $and nests deeper; only the depth
			// limit may reject the canonical form.
			if !strings.Contains(err.Error(), "nested too deeply") {
				t.Fatalf("Parse(Format(Parse(%s))) = %s: %v", raw, again, err)
			}
			e2 = nil
		}
		for _, d := range docs {
			got := Match(e, d)
			if e2 != nil && Match(e2, d) != got {
				t.Fatalf("%s and its canonical form %s disagree on %v", raw, again, d)
			}
			for _, f := range []SortField{{Field: "a"}, {Field: "a.b", Desc: true}} {
				_ = AppendSortKey(nil, d, f)
			}
		}
	})
}
