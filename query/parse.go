package query

import (
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"
)

// fieldOps are the whitelisted operators that apply to a field. $options is
// not an operator of its own but travels with $regex.
var fieldOps = map[string]bool{
	"$eq": true, "$ne": true, "$gt": true, "$gte": true, "$lt": true, "$lte": true,
	"$in": true, "$nin": true, "$all": true, "$exists": true, "$size": true,
	"$regex": true, "$options": true, "$not": true, "$elemMatch": true,
}

var cmpOps = map[string]Op{"$eq": Eq, "$ne": Ne, "$gt": Gt, "$gte": Gte, "$lt": Lt, "$lte": Lte}

// Parse parses a JSON filter in MongoDB syntax, e.g.
// {"price": {"$gt": 10}, "$or": [{"tags": "new"}, {"stock": {"$exists": false}}]}.
// Every error is a *Error.
func Parse(raw json.RawMessage) (Expr, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, errorf("invalid JSON: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errorf("filter must be a JSON object")
	}
	return ParseMap(m)
}

// ParseMap is Parse for a filter already decoded by encoding/json. An empty
// map yields an empty *And, which matches every document.
func ParseMap(m map[string]any) (Expr, error) {
	var p parser
	e, err := p.filter(m, 1)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// parser carries the running term count that enforces MaxTerms.
type parser struct{ terms int }

func (p *parser) count(n int) *Error {
	p.terms += n
	if p.terms > MaxTerms {
		return errorf("filter has more than %d terms", MaxTerms)
	}
	return nil
}

func tooDeep() *Error { return errorf("filter is nested too deeply (max depth %d)", MaxDepth) }

// filter parses a query document at the given nesting depth. Keys are
// handled in sorted order so that errors and the resulting tree are
// deterministic despite Go's random map order.
func (p *parser) filter(m map[string]any, depth int) (Expr, *Error) {
	if depth > MaxDepth {
		return nil, tooDeep()
	}
	exprs := make([]Expr, 0, len(m))
	for _, k := range sortedKeys(m) {
		v := m[k]
		if strings.HasPrefix(k, "$") {
			switch {
			case k == "$and" || k == "$or":
				e, err := p.logical(k, v, depth)
				if err != nil {
					return nil, err
				}
				exprs = append(exprs, e)
			case fieldOps[k]:
				return nil, errorf("operator %q must be applied to a field", k)
			default:
				return nil, errorf("unsupported operator %q", k)
			}
			continue
		}
		if err := checkField(k); err != nil {
			return nil, err
		}
		es, err := p.field(k, v, depth+1)
		if err != nil {
			return nil, err
		}
		exprs = append(exprs, es...)
	}
	if len(exprs) == 1 {
		return exprs[0], nil
	}
	return &And{Exprs: exprs}, nil
}

func (p *parser) logical(k string, v any, depth int) (Expr, *Error) {
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return nil, errorf("%s must be a non-empty array of objects", k)
	}
	if len(arr) > MaxValues {
		return nil, errorf("%s has more than %d clauses", k, MaxValues)
	}
	if depth+1 > MaxDepth {
		return nil, tooDeep()
	}
	exprs := make([]Expr, len(arr))
	for i, el := range arr {
		m, ok := el.(map[string]any)
		if !ok {
			return nil, errorf("%s must be a non-empty array of objects", k)
		}
		e, err := p.filter(m, depth+2)
		if err != nil {
			return nil, err
		}
		exprs[i] = e
	}
	if k == "$and" {
		return &And{Exprs: exprs}, nil
	}
	return &Or{Exprs: exprs}, nil
}

// field parses the value of a field key: an operator object or a literal
// to compare for equality. v sits at depth.
func (p *parser) field(name string, v any, depth int) ([]Expr, *Error) {
	if m, ok := v.(map[string]any); ok && hasOperator(m) {
		return p.operators(name, name, m, depth)
	}
	if err := p.literal(v, depth); err != nil {
		return nil, err
	}
	if err := p.count(1); err != nil {
		return nil, err
	}
	return []Expr{&Cmp{Field: name, Op: Eq, Value: v}}, nil
}

func hasOperator(m map[string]any) bool {
	for k := range m {
		if strings.HasPrefix(k, "$") {
			return true
		}
	}
	return false
}

func onlyOperators(m map[string]any) bool {
	for k := range m {
		if !strings.HasPrefix(k, "$") {
			return false
		}
	}
	return true
}

// operators parses an operator object such as {"$gt": 1, "$lt": 5} into one
// leaf per operator. field is the leaves' Field ("" for the element itself
// inside $elemMatch); ctx names the user's field in messages.
func (p *parser) operators(field, ctx string, m map[string]any, depth int) ([]Expr, *Error) {
	if depth > MaxDepth {
		return nil, tooDeep()
	}
	if _, ok := m["$options"]; ok {
		if _, ok := m["$regex"]; !ok {
			return nil, errorf("$options requires $regex")
		}
	}
	out := make([]Expr, 0, len(m))
	for _, k := range sortedKeys(m) {
		v := m[k]
		if !strings.HasPrefix(k, "$") {
			return nil, errorf("cannot mix operators and field names in %q", ctx)
		}
		if err := p.count(1); err != nil {
			return nil, err
		}
		var e Expr
		switch k {
		case "$eq", "$ne", "$gt", "$gte", "$lt", "$lte":
			if err := p.literal(v, depth+1); err != nil {
				return nil, err
			}
			e = &Cmp{Field: field, Op: cmpOps[k], Value: v}
		case "$in", "$nin":
			vals, err := p.list(k, v, depth+1)
			if err != nil {
				return nil, err
			}
			e = &In{Field: field, Values: vals, Not: k == "$nin"}
		case "$all":
			vals, err := p.list(k, v, depth+1)
			if err != nil {
				return nil, err
			}
			e = &All{Field: field, Values: vals}
		case "$exists":
			switch x := v.(type) {
			case bool:
				e = &Exists{Field: field, Exists: x}
			case float64:
				// MongoDB reads {$exists: 1} and {$exists: 0} as booleans.
				e = &Exists{Field: field, Exists: x != 0}
			default:
				return nil, errorf("$exists must be a boolean")
			}
		case "$size":
			f, ok := v.(float64)
			if !ok || f < 0 || f != math.Trunc(f) || f > math.MaxInt32 {
				return nil, errorf("$size must be a non-negative integer")
			}
			e = &Size{Field: field, N: int(f)}
		case "$regex":
			r, err := compileRegex(field, v, m["$options"])
			if err != nil {
				return nil, err
			}
			e = r
		case "$options":
			continue // consumed by $regex
		case "$not":
			sub, ok := v.(map[string]any)
			if !ok || len(sub) == 0 || !onlyOperators(sub) {
				return nil, errorf("$not must be a non-empty object of operators")
			}
			inner, err := p.operators(field, ctx, sub, depth+1)
			if err != nil {
				return nil, err
			}
			e = &Not{Field: field, Expr: andOf(inner)}
		case "$elemMatch":
			em, err := p.elemMatch(field, ctx, v, depth+1)
			if err != nil {
				return nil, err
			}
			e = em
		case "$and", "$or":
			return nil, errorf("operator %q is not allowed on a field", k)
		default:
			return nil, errorf("unsupported operator %q", k)
		}
		out = append(out, e)
	}
	return out, nil
}

func (p *parser) elemMatch(field, ctx string, v any, depth int) (Expr, *Error) {
	sub, ok := v.(map[string]any)
	if !ok || len(sub) == 0 {
		return nil, errorf("$elemMatch must be a non-empty object")
	}
	_, and := sub["$and"]
	_, or := sub["$or"]
	if onlyOperators(sub) && !and && !or {
		inner, err := p.operators("", ctx, sub, depth)
		if err != nil {
			return nil, err
		}
		return &ElemMatch{Field: field, Expr: andOf(inner), Values: true}, nil
	}
	for k := range sub {
		if strings.HasPrefix(k, "$") && fieldOps[k] {
			return nil, errorf("$elemMatch cannot mix operators and field names")
		}
	}
	inner, err := p.filter(sub, depth)
	if err != nil {
		return nil, err
	}
	return &ElemMatch{Field: field, Expr: inner}, nil
}

func andOf(es []Expr) Expr {
	if len(es) == 1 {
		return es[0]
	}
	return &And{Exprs: es}
}

// list parses the array operand of $in, $nin or $all, which sits at depth.
func (p *parser) list(k string, v any, depth int) ([]any, *Error) {
	arr, ok := v.([]any)
	if !ok {
		return nil, errorf("%s must be an array", k)
	}
	if len(arr) > MaxValues {
		return nil, errorf("%s has more than %d values", k, MaxValues)
	}
	if err := p.literal(v, depth); err != nil {
		return nil, err
	}
	if err := p.count(len(arr)); err != nil {
		return nil, err
	}
	return arr, nil
}

// literal checks a value used as an operand: a JSON value (ParseMap
// callers could pass other Go types, which stores would not compare alike),
// bounded nesting, and no $-prefixed keys, which MongoDB might otherwise read
// as operators.
func (p *parser) literal(v any, depth int) *Error {
	switch x := v.(type) {
	case nil, bool, string:
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return errorf("number %v is not valid JSON", x)
		}
	case map[string]any:
		if depth > MaxDepth {
			return tooDeep()
		}
		for _, k := range sortedKeys(x) {
			if strings.HasPrefix(k, "$") {
				if fieldOps[k] || k == "$and" || k == "$or" {
					return errorf("operator %q is not allowed inside a value", k)
				}
				return errorf("unsupported operator %q", k)
			}
			if strings.IndexByte(k, 0) >= 0 {
				return errorf("invalid field name %q: contains NUL", k)
			}
			if err := p.literal(x[k], depth+1); err != nil {
				return err
			}
		}
	case []any:
		if depth > MaxDepth {
			return tooDeep()
		}
		for _, el := range x {
			if err := p.literal(el, depth+1); err != nil {
				return err
			}
		}
	default:
		return errorf("unsupported value type %T (filters hold JSON values)", v)
	}
	return nil
}

// checkField validates a dotted path: no empty segment, no segment starting
// with $ (MongoDB's positional and operator syntax), no NUL byte.
func checkField(name string) *Error {
	if strings.IndexByte(name, 0) >= 0 {
		return errorf("invalid field name %q: contains NUL", name)
	}
	for seg := range strings.SplitSeq(name, ".") {
		if seg == "" {
			return errorf("invalid field name %q: empty segment", name)
		}
		if seg[0] == '$' {
			return errorf("invalid field name %q: segment starts with $", name)
		}
	}
	return nil
}

func compileRegex(field string, v, opts any) (*Regex, *Error) {
	pat, ok := v.(string)
	if !ok {
		return nil, errorf("$regex must be a string")
	}
	if utf8.RuneCountInString(pat) > MaxRegexLen {
		return nil, errorf("$regex is longer than %d characters", MaxRegexLen)
	}
	var options string
	if opts != nil {
		if options, ok = opts.(string); !ok {
			return nil, errorf("$options must be a string")
		}
	}
	var flags []byte
	extended := false
	for _, c := range options {
		switch c {
		case 'i', 'm', 's':
			flags = append(flags, byte(c))
		case 'x':
			extended = true
		default:
			return nil, errorf("unsupported $regex option %q", string(c))
		}
	}
	src := pat
	if extended {
		src = stripExtended(src)
	}
	if len(flags) > 0 {
		src = "(?" + string(flags) + ")" + src
	}
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, errorf("invalid $regex: %v", err)
	}
	return &Regex{Field: field, Pattern: pat, Options: options, re: re}, nil
}

// stripExtended rewrites a pattern written for PCRE's x option, which RE2
// lacks: unescaped whitespace outside character classes is dropped and #
// starts a comment that runs to the end of the line.
func stripExtended(p string) string {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && i+1 < len(p):
			i++
			if isSpace(p[i]) {
				// An escaped blank is a literal one; RE2 rejects "\ ".
				b.WriteString(`\x`)
				b.WriteByte("0123456789abcdef"[p[i]>>4])
				b.WriteByte("0123456789abcdef"[p[i]&15])
				continue
			}
			b.WriteByte(c)
			b.WriteByte(p[i])
		case inClass:
			if c == ']' {
				inClass = false
			}
			b.WriteByte(c)
		case c == '[':
			inClass = true
			b.WriteByte(c)
			// A ']' right after '[' or '[^' is a literal member.
			if i+1 < len(p) && p[i+1] == '^' {
				i++
				b.WriteByte('^')
			}
			if i+1 < len(p) && p[i+1] == ']' {
				i++
				b.WriteByte(']')
			}
		case isSpace(c):
		case c == '#':
			for i+1 < len(p) && p[i+1] != '\n' {
				i++
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
