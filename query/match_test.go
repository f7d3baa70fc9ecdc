package query

import (
	"encoding/json"
	"testing"
)

type matchCase struct {
	doc  string
	want bool
}

// matchTests are MongoDB's answers for each filter and document.
var matchTests = []struct {
	filter string
	cases  []matchCase
}{
	{`{}`, []matchCase{{`{}`, true}, {`{"a":1}`, true}}},
	{`{"a":5}`, []matchCase{
		{`{"a":5}`, true}, {`{"a":5.0}`, true}, {`{"a":"5"}`, false}, {`{"a":[1,5]}`, true},
		{`{"a":[[5]]}`, false}, {`{}`, false}, {`{"a":null}`, false}, {`{"a":true}`, false},
	}},
	{`{"a":null}`, []matchCase{
		{`{}`, true}, {`{"a":null}`, true}, {`{"a":[1,null]}`, true}, {`{"a":0}`, false},
		{`{"a":[]}`, false}, {`{"a":[1]}`, false}, {`{"a":false}`, false},
	}},
	{`{"a":[1,2]}`, []matchCase{
		{`{"a":[1,2]}`, true}, {`{"a":[2,1]}`, false}, {`{"a":[[1,2],3]}`, true}, {`{"a":[1,2,3]}`, false}, {`{"a":1}`, false},
	}},
	{`{"a":{"b":1}}`, []matchCase{
		{`{"a":{"b":1}}`, true}, {`{"a":{"b":1,"c":2}}`, false}, {`{"a":[{"b":1}]}`, true}, {`{"a":{"b":1.0}}`, true}, {`{"a":{}}`, false},
	}},
	{`{"a":1,"b":"x"}`, []matchCase{{`{"a":1,"b":"x"}`, true}, {`{"a":1,"b":"y"}`, false}, {`{"b":"x"}`, false}}},
	{`{"a.b":1}`, []matchCase{
		{`{"a":{"b":1}}`, true}, {`{"a":[{"b":1},{"b":2}]}`, true}, {`{"a":[{"b":[1]}]}`, true},
		{`{"a":[[{"b":1}]]}`, false}, {`{"a":{"b":[1,2]}}`, true}, {`{"a":5}`, false}, {`{"a":[{"c":1}]}`, false},
	}},
	{`{"a.b.c":1}`, []matchCase{{`{"a":{"b":5}}`, false}, {`{"a":[{"b":[{"c":1}]}]}`, true}, {`{"a":{"b":{"c":1}}}`, true}}},
	{`{"a.b":null}`, []matchCase{
		{`{"a":[{"b":1},{"c":1}]}`, true}, {`{"a":[{"b":1}]}`, false}, {`{"a":[]}`, false}, {`{"a":[1]}`, false},
		{`{"a":5}`, true}, {`{}`, true}, {`{"a":{"b":null}}`, true},
	}},
	{`{"a.1":5}`, []matchCase{
		{`{"a":[4,5]}`, true}, {`{"a":[5,4]}`, false}, {`{"a":{"1":5}}`, true}, {`{"a":[[5],[5]]}`, false}, {`{"a":[0,{"x":1}]}`, false},
	}},
	{`{"a.0.b":1}`, []matchCase{
		{`{"a":[{"b":1}]}`, true}, {`{"a":[{"b":2},{"b":1}]}`, false}, {`{"a":[[{"b":1}]]}`, true}, {`{"a":[{"0":{"b":1}}]}`, true},
	}},
	{`{"a.01":5}`, []matchCase{{`{"a":[4,5]}`, false}, {`{"a":{"01":5}}`, true}}},
	{`{"a":{"$ne":5}}`, []matchCase{
		{`{"a":5}`, false}, {`{"a":[1,5]}`, false}, {`{"a":[1,2]}`, true}, {`{}`, true}, {`{"a":null}`, true}, {`{"a":"5"}`, true},
	}},
	{`{"a":{"$ne":null}}`, []matchCase{{`{}`, false}, {`{"a":null}`, false}, {`{"a":1}`, true}, {`{"a":[null]}`, false}, {`{"a":[]}`, true}}},
	{`{"a":{"$gt":5}}`, []matchCase{
		{`{"a":6}`, true}, {`{"a":5}`, false}, {`{"a":"6"}`, false}, {`{"a":[1,7]}`, true}, {`{"a":[1,2]}`, false},
		{`{"a":true}`, false}, {`{}`, false}, {`{"a":null}`, false}, {`{"a":{"b":9}}`, false},
	}},
	{`{"a":{"$lt":"m"}}`, []matchCase{{`{"a":"a"}`, true}, {`{"a":5}`, false}, {`{"a":"z"}`, false}, {`{"a":""}`, true}, {`{"a":"M"}`, true}}},
	{`{"a":{"$lte":5.5}}`, []matchCase{{`{"a":5.5}`, true}, {`{"a":-1e300}`, true}, {`{"a":5.50001}`, false}}},
	{`{"a":{"$gte":null}}`, []matchCase{{`{}`, true}, {`{"a":null}`, true}, {`{"a":1}`, false}}},
	{`{"a":{"$lte":null}}`, []matchCase{{`{}`, true}, {`{"a":[2,null]}`, true}, {`{"a":"x"}`, false}}},
	{`{"a":{"$gt":null}}`, []matchCase{{`{}`, false}, {`{"a":1}`, false}, {`{"a":null}`, false}}},
	{`{"a":{"$gt":1,"$lt":5}}`, []matchCase{{`{"a":3}`, true}, {`{"a":[0,6]}`, true}, {`{"a":6}`, false}, {`{"a":[6,7]}`, false}}},
	{`{"a":{"$gte":{"b":1}}}`, []matchCase{
		{`{"a":{"b":2}}`, true}, {`{"a":{"b":0}}`, false}, {`{"a":{"c":0}}`, true}, {`{"a":{"b":"x"}}`, true}, {`{"a":5}`, false}, {`{"a":{}}`, false},
	}},
	{`{"a":{"$lt":[2]}}`, []matchCase{{`{"a":[1,5]}`, true}, {`{"a":[[1,5]]}`, true}, {`{"a":[[3]]}`, false}}},
	{`{"a":{"$gt":false}}`, []matchCase{{`{"a":true}`, true}, {`{"a":false}`, false}, {`{"a":1}`, false}}},
	{`{"a":{"$in":[1,"x",null]}}`, []matchCase{
		{`{"a":1}`, true}, {`{"a":"x"}`, true}, {`{}`, true}, {`{"a":[2,"x"]}`, true}, {`{"a":2}`, false}, {`{"a":null}`, true},
	}},
	{`{"a":{"$in":[[1,2],{"b":1}]}}`, []matchCase{{`{"a":[1,2]}`, true}, {`{"a":[{"b":1}]}`, true}, {`{"a":[2,1]}`, false}}},
	{`{"a":{"$nin":[1,2]}}`, []matchCase{{`{"a":3}`, true}, {`{}`, true}, {`{"a":[3,1]}`, false}, {`{"a":1}`, false}}},
	{`{"a":{"$in":[]}}`, []matchCase{{`{"a":1}`, false}, {`{}`, false}}},
	{`{"a":{"$nin":[]}}`, []matchCase{{`{"a":1}`, true}, {`{}`, true}}},
	{`{"a":{"$exists":true}}`, []matchCase{{`{"a":null}`, true}, {`{}`, false}, {`{"a":[]}`, true}, {`{"b":1}`, false}}},
	{`{"a.b":{"$exists":true}}`, []matchCase{{`{"a":[{"c":1},{"b":null}]}`, true}, {`{"a":[1,2]}`, false}, {`{"a":{"b":0}}`, true}}},
	{`{"a.b":{"$exists":false}}`, []matchCase{{`{"a":[{"b":1},{"c":1}]}`, false}, {`{"a":[{"c":1}]}`, true}, {`{"a":5}`, true}}},
	{`{"a":{"$size":2}}`, []matchCase{
		{`{"a":[1,2]}`, true}, {`{"a":[1]}`, false}, {`{"a":"ab"}`, false}, {`{"a":[[1,2]]}`, false}, {`{}`, false},
	}},
	{`{"a":{"$size":0}}`, []matchCase{{`{"a":[]}`, true}, {`{}`, false}, {`{"a":null}`, false}}},
	{`{"a.b":{"$size":1}}`, []matchCase{{`{"a":[{"b":[1,2]},{"b":[1]}]}`, true}, {`{"a":[{"b":[1,2]}]}`, false}}},
	{`{"a":{"$all":[1,2]}}`, []matchCase{{`{"a":[2,1,3]}`, true}, {`{"a":[1]}`, false}, {`{"a":1}`, false}, {`{}`, false}}},
	{`{"a":{"$all":[1]}}`, []matchCase{{`{"a":1}`, true}, {`{"a":[1]}`, true}}},
	{`{"a":{"$all":[]}}`, []matchCase{{`{"a":[]}`, false}, {`{}`, false}}},
	{`{"a":{"$all":[[1,2]]}}`, []matchCase{{`{"a":[1,2]}`, true}, {`{"a":[[1,2],3]}`, true}, {`{"a":[1,2,3]}`, false}}},
	{`{"a":{"$regex":"^ab"}}`, []matchCase{{`{"a":"abc"}`, true}, {`{"a":["x","abz"]}`, true}, {`{"a":5}`, false}, {`{}`, false}, {`{"a":"xab"}`, false}}},
	{`{"a":{"$not":{"$regex":"^ab"}}}`, []matchCase{{`{"a":"abc"}`, false}, {`{"a":"x"}`, true}, {`{}`, true}, {`{"a":5}`, true}}},
	{`{"a":{"$not":{"$gt":5}}}`, []matchCase{{`{"a":6}`, false}, {`{"a":4}`, true}, {`{}`, true}, {`{"a":"x"}`, true}, {`{"a":[1,6]}`, false}}},
	{`{"a":{"$not":{"$gt":1,"$lt":5}}}`, []matchCase{{`{"a":3}`, false}, {`{"a":7}`, true}, {`{"a":[0,6]}`, false}}},
	{`{"a":{"$elemMatch":{"$gt":1,"$lt":5}}}`, []matchCase{
		{`{"a":[0,6]}`, false}, {`{"a":[0,3]}`, true}, {`{"a":3}`, false}, {`{"a":[[3]]}`, false}, {`{}`, false},
	}},
	{`{"a":{"$elemMatch":{"b":1,"c":2}}}`, []matchCase{
		{`{"a":[{"b":1,"c":2}]}`, true}, {`{"a":[{"b":1},{"c":2}]}`, false}, {`{"a":{"b":1,"c":2}}`, false}, {`{"a":[[{"b":1,"c":2}]]}`, false},
	}},
	{`{"a":{"$elemMatch":{"b":null}}}`, []matchCase{{`{"a":[[]]}`, true}, {`{"a":[1,2]}`, false}, {`{"a":[{"b":1}]}`, false}}},
	{`{"a":{"$elemMatch":{"0":5}}}`, []matchCase{{`{"a":[[5]]}`, true}, {`{"a":[{"0":5}]}`, true}, {`{"a":[5]}`, false}}},
	{`{"a":{"$elemMatch":{"b.c":{"$gt":1}}}}`, []matchCase{{`{"a":[{"b":[{"c":0},{"c":2}]}]}`, true}, {`{"a":[{"b":{"c":1}}]}`, false}}},
	{`{"a":{"$elemMatch":{"b":{"$exists":false}}}}`, []matchCase{{`{"a":[{"b":1},{"c":1}]}`, true}, {`{"a":[1,2]}`, false}, {`{"a":[{"b":1}]}`, false}}},
	{`{"a":{"$elemMatch":{"$ne":1}}}`, []matchCase{{`{"a":[1,1]}`, false}, {`{"a":[1,2]}`, true}, {`{"a":[]}`, false}}},
	{`{"a":{"$elemMatch":{"$in":[1,2],"$exists":true}}}`, []matchCase{{`{"a":[3,2]}`, true}, {`{"a":[3]}`, false}}},
	{`{"a":{"$elemMatch":{"$elemMatch":{"$gt":1}}}}`, []matchCase{{`{"a":[[0],[2]]}`, true}, {`{"a":[2]}`, false}}},
	{`{"a":{"$elemMatch":{"$size":2}}}`, []matchCase{{`{"a":[[1,2]]}`, true}, {`{"a":[1,2]}`, false}}},
	{`{"a":{"$elemMatch":{"$regex":"x"}}}`, []matchCase{{`{"a":["y","x"]}`, true}, {`{"a":"x"}`, false}}},
	{`{"a":{"$elemMatch":{"$not":{"$gt":5}}}}`, []matchCase{{`{"a":[6,7]}`, false}, {`{"a":[6,1]}`, true}}},
	{`{"a":{"$elemMatch":{"$all":[1]}}}`, []matchCase{{`{"a":[1]}`, true}, {`{"a":[[1]]}`, false}}},
	{`{"a":{"$elemMatch":{"$eq":null}}}`, []matchCase{{`{"a":[1,null]}`, true}, {`{"a":[1]}`, false}}},
	{`{"$or":[{"a":1},{"b":{"$exists":true}}]}`, []matchCase{{`{"a":1}`, true}, {`{"b":null}`, true}, {`{"a":2}`, false}}},
	{`{"$and":[{"a":{"$gt":1}},{"a":{"$lt":5}}],"b":{"$ne":1}}`, []matchCase{{`{"a":3}`, true}, {`{"a":3,"b":1}`, false}, {`{"a":5}`, false}}},
}

func TestMatch(t *testing.T) {
	t.Parallel()
	for _, ft := range matchTests {
		e, err := Parse(json.RawMessage(ft.filter))
		if err != nil {
			t.Fatalf("Parse(%s): %v", ft.filter, err)
		}
		for _, c := range ft.cases {
			var doc map[string]any
			if err := json.Unmarshal([]byte(c.doc), &doc); err != nil {
				t.Fatalf("bad test doc %s: %v", c.doc, err)
			}
			if got := Match(e, doc); got != c.want {
				t.Errorf("Match(%s, %s) = %v, want %v", ft.filter, c.doc, got, c.want)
			}
		}
	}
}

func TestMatchNilExpr(t *testing.T) {
	t.Parallel()
	if !Match(nil, map[string]any{"a": 1.0}) {
		t.Fatal("nil Expr must match everything")
	}
}

// TestMatchBuiltTrees covers trees that Parse never builds but After and
// adapters rely on: empty And and Or.
func TestMatchBuiltTrees(t *testing.T) {
	t.Parallel()
	doc := map[string]any{"a": 1.0}
	if !Match(&And{}, doc) {
		t.Error("empty And must match")
	}
	if Match(&Or{}, doc) {
		t.Error("empty Or must not match")
	}
}

func TestAllOf(t *testing.T) {
	t.Parallel()
	a := &Cmp{Field: "a", Op: Eq, Value: 1.0}
	b := &Exists{Field: "b", Exists: true}
	if AllOf() != nil || AllOf(nil, nil) != nil {
		t.Error("AllOf of nothing must be nil (match everything)")
	}
	if AllOf(nil, a) != Expr(a) {
		t.Error("AllOf of one expr must be that expr")
	}
	and, ok := AllOf(a, nil, b).(*And)
	if !ok || len(and.Exprs) != 2 || and.Exprs[0] != Expr(a) || and.Exprs[1] != Expr(b) {
		t.Errorf("AllOf(a, nil, b) = %#v", AllOf(a, nil, b))
	}
}
