package readstoretest

import (
	"math/rand/v2"

	"github.com/eventbase/eventbase/readstore"
)

// Random documents and filters for property tests: whatever an adapter
// answers must equal what query.Match answers on the same documents.

var scalars = []any{nil, -1.0, 0.0, 1.0, 2.0, 2.5, "", "a", "ab", "b", true, false}

func randomScalar(r *rand.Rand) any { return scalars[r.IntN(len(scalars))] }

func randomValue(r *rand.Rand, depth int) any {
	switch n := r.IntN(10); {
	case n < 6 || depth > 1:
		return randomScalar(r)
	case n < 8:
		arr := make([]any, r.IntN(4))
		for i := range arr {
			if r.IntN(3) == 0 {
				arr[i] = map[string]any{"d": randomValue(r, depth+1)}
			} else {
				arr[i] = randomValue(r, depth+1)
			}
		}
		return arr
	default:
		obj := map[string]any{}
		if r.IntN(4) > 0 {
			obj["d"] = randomValue(r, depth+1)
		}
		if r.IntN(2) == 0 {
			obj["e"] = randomScalar(r)
		}
		return obj
	}
}

// RandomDoc returns a document with fields a, c and arr of random JSON
// values (scalars, arrays, arrays of objects, objects) or missing, and b a
// scalar or missing, so that an index on b only ever sees scalars.
func RandomDoc(r *rand.Rand, id string) readstore.Doc {
	d := readstore.Doc{"_id": id}
	for _, f := range []string{"a", "c", "arr"} {
		if r.IntN(5) > 0 {
			d[f] = randomValue(r, 0)
		}
	}
	if r.IntN(5) > 0 {
		d["b"] = randomScalar(r)
	}
	return d
}

// RandomFilter returns a filter over RandomDoc documents in MongoDB syntax,
// mixing every operator, dotted and positional paths, and nested $and/$or.
// Some are invalid (Parse rejects them); callers skip those.
func RandomFilter(r *rand.Rand) map[string]any { return randomFilter(r, 0) }

func randomFilter(r *rand.Rand, depth int) map[string]any {
	if depth < 2 && r.IntN(4) == 0 {
		op := []string{"$and", "$or"}[r.IntN(2)]
		list := make([]any, 1+r.IntN(3))
		for i := range list {
			list[i] = randomFilter(r, depth+1)
		}
		return map[string]any{op: list}
	}
	paths := []string{"a", "b", "c", "c.d", "c.e", "arr", "arr.d", "arr.0", "arr.1.d", "a.d"}
	return map[string]any{paths[r.IntN(len(paths))]: randomCondition(r, depth)}
}

func randomCondition(r *rand.Rand, depth int) any {
	list := func() []any {
		out := make([]any, r.IntN(4))
		for i := range out {
			out[i] = randomValue(r, 1)
		}
		return out
	}
	switch r.IntN(14) {
	case 0:
		return randomValue(r, 0)
	case 1, 2:
		ops := []string{"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"}
		return map[string]any{ops[r.IntN(len(ops))]: randomValue(r, 1)}
	case 3:
		return map[string]any{"$in": list()}
	case 4:
		return map[string]any{"$nin": list()}
	case 5:
		return map[string]any{"$exists": r.IntN(2) == 0}
	case 6:
		return map[string]any{"$size": float64(r.IntN(3))}
	case 7:
		return map[string]any{"$all": list()}
	case 8:
		return map[string]any{"$regex": []string{"^a", "b$", "A"}[r.IntN(3)], "$options": []string{"", "i"}[r.IntN(2)]}
	case 9:
		return map[string]any{"$elemMatch": map[string]any{"$gte": randomScalar(r), "$ne": randomScalar(r)}}
	case 10:
		return map[string]any{"$elemMatch": map[string]any{"d": randomCondition(r, depth+1)}}
	case 11:
		return map[string]any{"$not": map[string]any{"$gt": randomScalar(r)}}
	case 12:
		return map[string]any{"$gte": randomScalar(r), "$lt": randomScalar(r)}
	default:
		return map[string]any{"$gte": map[string]any{}}
	}
}
