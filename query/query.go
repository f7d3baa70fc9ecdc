// Package query parses MongoDB-syntax filters from untrusted input into a
// small validated tree (Expr) with an operator whitelist, and evaluates it
// against JSON documents in memory. Read-model adapters translate the tree
// (SQL for SQLite, BSON for MongoDB); the realtime hub uses Match. Anything
// outside the whitelist ($where, $function, $expr, ...) is rejected at parse
// time, so no operator injection reaches a database.
//
// Documents and values are what encoding/json decodes into `any`: nil, bool,
// float64, string, []any and map[string]any. Semantics follow MongoDB: a
// path through an array reaches every element, comparisons only hold between
// values of one type class, and null equality also matches a missing field.
package query

import (
	"fmt"
	"regexp"
)

// Limits on what Parse accepts. They bound the work a single request can
// cause in Match and in the SQL or BSON a filter is translated to.
const (
	MaxDepth    = 32    // nesting of objects and arrays in a filter
	MaxRegexLen = 256   // characters in a $regex pattern
	MaxValues   = 1000  // elements of one $in, $nin, $all, $and or $or array
	MaxTerms    = 10000 // conditions plus listed values in a whole filter
)

// Error is the one error type of this package: a filter, sort, projection or
// cursor that a client sent is invalid. Transport maps it to HTTP 400 and may
// show Message to the client verbatim.
type Error struct {
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(format string, args ...any) *Error {
	return &Error{Message: fmt.Sprintf(format, args...)}
}

// Expr is a parsed filter node. Implementations are the pointer types in
// this package (*And, *Or, *Cmp, *In, *All, *Exists, *Size, *Regex,
// *ElemMatch, *Not).
//
// A leaf's Field is a dotted path from the document root, except inside
// ElemMatch with Values set, where leaves have Field "" and apply to each
// array element itself.
type Expr interface{ isExpr() }

// SortField is one key of a sort order.
type SortField struct {
	Field string // dotted path
	Desc  bool
}

// Op is a comparison operator of Cmp.
type Op uint8

// Comparison operators.
const (
	Eq Op = iota + 1
	Ne
	Gt
	Gte
	Lt
	Lte
)

var opNames = [...]string{Eq: "$eq", Ne: "$ne", Gt: "$gt", Gte: "$gte", Lt: "$lt", Lte: "$lte"}

// String returns the MongoDB name of the operator, e.g. "$gte".
func (o Op) String() string {
	if o >= Eq && o <= Lte {
		return opNames[o]
	}
	return fmt.Sprintf("Op(%d)", uint8(o))
}

// And matches when every Expr matches; an empty And matches everything.
type And struct{ Exprs []Expr }

// Or matches when at least one Expr matches.
type Or struct{ Exprs []Expr }

// Cmp compares the value(s) at Field with Value. Eq with a nil Value also
// matches a missing field; Ne matches when Eq does not, missing fields
// included.
type Cmp struct {
	Field string
	Op    Op
	Value any
}

// In is $in, or $nin when Not is set ($nin matches missing fields).
type In struct {
	Field  string
	Values []any
	Not    bool
}

// All is $all: the field equals (or, for arrays, contains) every value. An
// empty All matches nothing.
type All struct {
	Field  string
	Values []any
}

// Exists is $exists.
type Exists struct {
	Field  string
	Exists bool
}

// Size is $size: the field is an array of exactly N elements.
type Size struct {
	Field string
	N     int
}

// Regex is $regex with $options. Parse has compiled it with Go's regexp
// (RE2), so patterns that need backtracking features are rejected up front.
type Regex struct {
	Field   string
	Pattern string
	Options string // a subset of "imsx"
	re      *regexp.Regexp
}

// Regexp returns the compiled pattern, options applied.
func (r *Regex) Regexp() *regexp.Regexp { return r.re }

// ElemMatch is $elemMatch: the field is an array with at least one element
// matching Expr. With Values set, Expr's leaves have Field "" and test each
// element itself ({$elemMatch: {$gt: 1, $lt: 5}}); otherwise Expr is a filter
// over the elements that are objects ({$elemMatch: {qty: {$gt: 1}}}), or
// arrays, which MongoDB reads as objects keyed "0", "1", ... (IndexObject).
type ElemMatch struct {
	Field  string
	Expr   Expr
	Values bool
}

// Not is the field-level $not: it matches exactly when Expr, a set of
// conditions on Field, does not (so it matches a missing field).
type Not struct {
	Field string
	Expr  Expr
}

func (*And) isExpr()       {}
func (*Or) isExpr()        {}
func (*Cmp) isExpr()       {}
func (*In) isExpr()        {}
func (*All) isExpr()       {}
func (*Exists) isExpr()    {}
func (*Size) isExpr()      {}
func (*Regex) isExpr()     {}
func (*ElemMatch) isExpr() {}
func (*Not) isExpr()       {}
