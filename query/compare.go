package query

import (
	"slices"
	"strings"
)

// Type ranks in MongoDB's BSON comparison order for the JSON types. A missing
// field ranks as null.
const (
	rankOther  = 0 // not a JSON value; never produced by encoding/json
	rankNull   = 1
	rankNumber = 2
	rankString = 3
	rankObject = 4
	rankArray  = 5
	rankBool   = 6
)

func rank(v any) int {
	switch v.(type) {
	case nil:
		return rankNull
	case float64:
		return rankNumber
	case string:
		return rankString
	case map[string]any:
		return rankObject
	case []any:
		return rankArray
	case bool:
		return rankBool
	}
	return rankOther
}

// Compare orders two JSON values as MongoDB orders BSON values: null <
// numbers < strings < objects < arrays < booleans; numbers by value, strings
// by bytes (the simple collation), arrays element by element, objects field
// by field in key order (stored documents have sorted keys; see the
// readstore adapters), booleans false < true. It returns -1, 0 or +1.
func Compare(a, b any) int {
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return cmpInt(ra, rb)
	}
	switch x := a.(type) {
	case float64:
		y := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case string:
		return strings.Compare(x, b.(string))
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case y:
			return -1
		}
		return 1
	case []any:
		y := b.([]any)
		for i := 0; i < len(x) && i < len(y); i++ {
			if c := Compare(x[i], y[i]); c != 0 {
				return c
			}
		}
		return cmpInt(len(x), len(y))
	case map[string]any:
		return compareObjects(x, b.(map[string]any))
	}
	return 0
}

// compareObjects follows BSONObj::woCompare: pairwise over the fields in
// order, first by the values' type rank, then by field name, then by value;
// a prefix sorts first.
func compareObjects(x, y map[string]any) int {
	kx, ky := sortedKeys(x), sortedKeys(y)
	for i := 0; i < len(kx) && i < len(ky); i++ {
		vx, vy := x[kx[i]], y[ky[i]]
		if c := cmpInt(rank(vx), rank(vy)); c != 0 {
			return c
		}
		if c := strings.Compare(kx[i], ky[i]); c != 0 {
			return c
		}
		if c := Compare(vx, vy); c != 0 {
			return c
		}
	}
	return cmpInt(len(kx), len(ky))
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// equal reports MongoDB equality of two present values. Maps are equal
// regardless of Go's key order, which matches MongoDB for documents stored
// with sorted keys, as both readstore adapters store them.
func equal(a, b any) bool {
	if x, ok := a.(float64); ok {
		y, ok := b.(float64)
		return ok && x == y
	}
	if x, ok := a.(string); ok {
		y, ok := b.(string)
		return ok && x == y
	}
	return Compare(a, b) == 0
}
