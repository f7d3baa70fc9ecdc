package query

import (
	"strconv"
	"strings"
)

// Match reports whether doc satisfies e, with MongoDB's semantics. A nil e
// matches every document.
func Match(e Expr, doc map[string]any) bool { return eval(e, doc) }

// eval evaluates e against root: a document, or inside a value-form
// $elemMatch an array element, which leaves with Field "" test directly.
func eval(e Expr, root any) bool {
	switch n := e.(type) {
	case nil:
		return true
	case *And:
		for _, x := range n.Exprs {
			if !eval(x, root) {
				return false
			}
		}
		return true
	case *Or:
		for _, x := range n.Exprs {
			if eval(x, root) {
				return true
			}
		}
		return false
	case *Not:
		return !eval(n.Expr, root)
	case *Cmp:
		// Ne's matcher tests equality; the negation applies to the whole
		// field, so {$ne: 5} rejects an array holding 5.
		return leaf(n.Field, root, traverse, n) != (n.Op == Ne)
	case *In:
		return leaf(n.Field, root, traverse, n) != n.Not
	case *All:
		if len(n.Values) == 0 {
			return false
		}
		for _, v := range n.Values {
			if !leaf(n.Field, root, traverse, eqValue{v}) {
				return false
			}
		}
		return true
	case *Exists:
		return leaf(n.Field, root, traverse, exists{}) == n.Exists
	case *Size:
		return leaf(n.Field, root, whole, n)
	case *Regex:
		return leaf(n.Field, root, traverse, n)
	case *ElemMatch:
		return leaf(n.Field, root, whole, n)
	}
	return false
}

// elemMatcher is MongoDB's matchesSingleElement: a test of one value that a
// path yields. present is false for a missing field.
type elemMatcher interface {
	matchElem(v any, present bool) bool
}

// leafMode says what a path that ends at an array yields.
type leafMode uint8

const (
	// traverse yields every element, then the array itself: {tags: "a"}
	// matches ["a","b"], and {tags: ["a","b"]} matches it too.
	traverse leafMode = iota
	// whole yields only the array, for $size and $elemMatch.
	whole
	// sortKeys yields the elements only, or emptyArray for [], the way
	// MongoDB derives sort keys.
	sortKeys
)

func leaf[M elemMatcher](field string, root any, mode leafMode, m M) bool {
	if field == "" {
		return m.matchElem(root, true)
	}
	return walk(root, field, mode, m)
}

// walk feeds m the values that path yields in v, stopping at the first
// match. It mirrors MongoDB's BSONElementIterator: objects are descended
// field by field; an array met before the last segment is fanned out over its
// object elements (each yielding the rest of the path, or "missing"), and a
// numeric segment also selects an element by position; a scalar met before
// the last segment, or an absent key, yields "missing".
func walk[M elemMatcher](v any, path string, mode leafMode, m M) bool {
	for {
		obj, ok := v.(map[string]any)
		if !ok {
			return m.matchElem(nil, false)
		}
		seg, rest, more := strings.Cut(path, ".")
		x, ok := obj[seg]
		if !ok {
			return m.matchElem(nil, false)
		}
		if !more {
			arr, isArr := x.([]any)
			if !isArr || mode == whole {
				return m.matchElem(x, true)
			}
			for _, el := range arr {
				if m.matchElem(el, true) {
					return true
				}
			}
			if mode == sortKeys {
				return len(arr) == 0 && m.matchElem(emptyArray{}, true)
			}
			return m.matchElem(x, true)
		}
		switch y := x.(type) {
		case map[string]any:
			v, path = y, rest
		case []any:
			return walkArray(y, rest, mode, m)
		default:
			return m.matchElem(nil, false)
		}
	}
}

func walkArray[M elemMatcher](arr []any, path string, mode leafMode, m M) bool {
	next, after, more := strings.Cut(path, ".")
	pos := arrayIndex(next)
	for i, el := range arr {
		if obj, ok := el.(map[string]any); ok {
			if walk(obj, path, mode, m) {
				return true
			}
			if i == pos {
				if !more {
					if m.matchElem(el, true) {
						return true
					}
				} else if walk(obj, after, mode, m) {
					return true
				}
			}
			continue
		}
		if i != pos {
			continue
		}
		if !more {
			if m.matchElem(el, true) {
				return true
			}
		} else if sub, ok := el.([]any); ok && walkArray(sub, after, mode, m) {
			return true
		}
	}
	return false
}

// arrayIndex returns the array position a path segment names, or -1. As in
// MongoDB only the canonical spelling counts: "1" does, "01" does not.
func arrayIndex(seg string) int {
	if seg == "" || len(seg) > 9 || (seg[0] == '0' && len(seg) > 1) {
		return -1
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

func eqElem(v any, present bool, want any) bool {
	if want == nil {
		return !present || v == nil
	}
	return present && equal(v, want)
}

type eqValue struct{ want any }

func (e eqValue) matchElem(v any, present bool) bool { return eqElem(v, present, e.want) }

type exists struct{}

func (exists) matchElem(_ any, present bool) bool { return present }

func (c *Cmp) matchElem(v any, present bool) bool {
	switch c.Op {
	case Eq, Ne:
		return eqElem(v, present, c.Value)
	}
	if c.Value == nil {
		// null sorts equal to null and missing, and to nothing else.
		return (c.Op == Gte || c.Op == Lte) && (!present || v == nil)
	}
	if !present || rank(v) != rank(c.Value) {
		return false
	}
	r := Compare(v, c.Value)
	switch c.Op {
	case Gt:
		return r > 0
	case Gte:
		return r >= 0
	case Lt:
		return r < 0
	case Lte:
		return r <= 0
	}
	return false
}

func (n *In) matchElem(v any, present bool) bool {
	for _, want := range n.Values {
		if eqElem(v, present, want) {
			return true
		}
	}
	return false
}

func (n *Size) matchElem(v any, _ bool) bool {
	arr, ok := v.([]any)
	return ok && len(arr) == n.N
}

func (n *Regex) matchElem(v any, _ bool) bool {
	s, ok := v.(string)
	return ok && n.re.MatchString(s)
}

func (n *ElemMatch) matchElem(v any, _ bool) bool {
	arr, ok := v.([]any)
	if !ok {
		return false
	}
	for _, el := range arr {
		switch x := el.(type) {
		case map[string]any:
			if eval(n.Expr, x) {
				return true
			}
		case []any:
			if n.Values {
				if eval(n.Expr, x) {
					return true
				}
			} else if eval(n.Expr, IndexObject(x)) {
				return true
			}
		default:
			if n.Values && eval(n.Expr, x) {
				return true
			}
		}
	}
	return false
}

// IndexObject returns an array as the object MongoDB sees when a filter is
// applied to it as a document, as $elemMatch does to array elements: keys
// "0", "1", ... in order.
func IndexObject(arr []any) map[string]any {
	m := make(map[string]any, len(arr))
	for i, v := range arr {
		m[strconv.Itoa(i)] = v
	}
	return m
}
