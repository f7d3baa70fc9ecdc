package mongo

import (
	"slices"

	"github.com/eventbase/eventbase/query"
)

// The rewrites here change how a filter is spelled, never what it means on
// MongoDB: each is an identity under MongoDB's own matching rules. They exist
// because wire-compatible servers implement less of the query language than
// MongoDB does; the in-memory jongodb the tests run on, in particular, does
// not match an array element equal to an array operand, treats {$all: []}
// as true, and compares neither objects ($gte: {}) nor null ($gte: null).
// With the rewrites both servers give MongoDB's answers there.

// compat rewrites e into an equivalent filter in the subset of the query
// language such servers agree on.
func compat(e query.Expr) query.Expr { return rewrite(e, false) }

// rewrite does compat's work. Inside $elemMatch (inElem) it leaves out the
// rewrites that add $or or $and, which jongodb rejects there.
func rewrite(e query.Expr, inElem bool) query.Expr {
	switch n := e.(type) {
	case *query.And:
		out := make([]query.Expr, len(n.Exprs))
		for i, x := range n.Exprs {
			out[i] = rewrite(x, inElem)
		}
		return &query.And{Exprs: out}
	case *query.Or:
		out := make([]query.Expr, len(n.Exprs))
		for i, x := range n.Exprs {
			out[i] = rewrite(x, inElem)
		}
		return &query.Or{Exprs: out}
	case *query.Not:
		inner := rewrite(n.Expr, inElem)
		if onField(inner, n.Field) {
			return &query.Not{Field: n.Field, Expr: inner}
		}
		return negate(inner)
	case *query.Cmp:
		switch {
		case n.Value == nil && (n.Op == query.Gte || n.Op == query.Lte):
			// null sorts equal only to null and missing: $gte null is $eq null.
			return rewrite(&query.Cmp{Field: n.Field, Op: query.Eq, Value: nil}, inElem)
		case n.Field == "" || inElem:
			return n
		case n.Op == query.Ne:
			pos := &query.Cmp{Field: n.Field, Op: query.Eq, Value: n.Value}
			if r := rewrite(pos, inElem); r != query.Expr(pos) {
				return negate(r)
			}
			return n
		case n.Op != query.Eq:
			return n
		}
		if arr, ok := n.Value.([]any); ok {
			// {tags: ["x"]} also matches an element equal to ["x"].
			return &query.Or{Exprs: []query.Expr{n, &query.ElemMatch{Field: n.Field, Values: true, Expr: &query.Cmp{Op: query.Eq, Value: arr}}}}
		}
		return n
	case *query.In:
		if n.Field == "" || inElem {
			return n
		}
		var arrays []any
		for _, v := range n.Values {
			if _, ok := v.([]any); ok {
				arrays = append(arrays, v)
			}
		}
		if len(arrays) == 0 {
			return n
		}
		either := &query.Or{Exprs: []query.Expr{
			&query.In{Field: n.Field, Values: n.Values},
			&query.ElemMatch{Field: n.Field, Values: true, Expr: &query.In{Values: arrays}},
		}}
		if n.Not {
			return negate(either)
		}
		return either
	case *query.All:
		if n.Field == "" {
			return n
		}
		// $all is the conjunction of equalities; empty, it matches nothing.
		if len(n.Values) == 0 {
			return &query.Or{}
		}
		if inElem || !slices.ContainsFunc(n.Values, func(v any) bool { _, ok := v.([]any); return ok }) {
			return n
		}
		out := make([]query.Expr, len(n.Values))
		for i, v := range n.Values {
			out[i] = rewrite(&query.Cmp{Field: n.Field, Op: query.Eq, Value: v}, inElem)
		}
		return &query.And{Exprs: out}
	case *query.ElemMatch:
		return &query.ElemMatch{Field: n.Field, Values: n.Values, Expr: rewrite(n.Expr, true)}
	}
	return e
}

// negate returns the negation of e in a form MongoDB can express, pushing
// NOT down to single fields.
func negate(e query.Expr) query.Expr {
	switch n := e.(type) {
	case *query.Or:
		out := make([]query.Expr, len(n.Exprs))
		for i, x := range n.Exprs {
			out[i] = negate(x)
		}
		return &query.And{Exprs: out}
	case *query.And:
		out := make([]query.Expr, len(n.Exprs))
		for i, x := range n.Exprs {
			out[i] = negate(x)
		}
		return &query.Or{Exprs: out}
	case *query.Not:
		return n.Expr
	case *query.Cmp:
		if n.Op == query.Eq {
			return &query.Cmp{Field: n.Field, Op: query.Ne, Value: n.Value}
		}
	case *query.In:
		return &query.In{Field: n.Field, Values: n.Values, Not: !n.Not}
	}
	return &query.Not{Field: query.FieldOf(e), Expr: e}
}

// onField reports whether every condition of e is on field, so that it can
// stay the operand of a field-level $not.
func onField(e query.Expr, field string) bool {
	if and, ok := e.(*query.And); ok {
		for _, x := range and.Exprs {
			if !onField(x, field) {
				return false
			}
		}
		return true
	}
	_, isOr := e.(*query.Or)
	return !isOr && query.FieldOf(e) == field
}

// objectType replaces {$gte: {}}, which every object satisfies and which
// keyset cursors use to step over all objects, with the equivalent {$type:
// "object"}. It walks a rendered filter, where only operators have $ keys.
func objectType(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, el := range x {
			if m, ok := el.(map[string]any); ok && k == "$gte" && len(m) == 0 {
				delete(x, "$gte")
				x["$type"] = "object"
				continue
			}
			objectType(el)
		}
	case []any:
		for _, el := range x {
			objectType(el)
		}
	}
}
