package query

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
)

// MaxCursorLen bounds an encoded cursor, which clients send back verbatim.
const MaxCursorLen = 8192

// After returns a filter selecting the documents that come strictly after
// last in the order sort, then _id ascending (the order of CompareDocs).
// Unlike an offset, it stays correct while documents are inserted or
// deleted between pages: each page starts after the last document seen.
//
// MongoDB's range operators only compare values of one type class, so "after"
// also lists the type classes that sort later (for a number: strings,
// objects, booleans). Sort fields holding arrays sort by their extreme
// element; pages over such fields are exact only where that element is
// unique, as with MongoDB itself.
func After(sort []SortField, last map[string]any) Expr {
	var terms []Expr
	var eqs []Expr
	for _, f := range sort {
		v := sortKey(last, f)
		if _, ok := v.(emptyArray); ok {
			v = nil
		}
		if f.Field == "_id" {
			// _id is unique: it decides and no tie-breaker follows.
			op := Gt
			if f.Desc {
				op = Lt
			}
			return orOf(append(terms, andOf(append(eqs, &Cmp{Field: "_id", Op: op, Value: v}))))
		}
		if next := beyond(f, v); next != nil {
			terms = append(terms, andOf(append(eqs[:len(eqs):len(eqs)], next)))
		}
		eqs = append(eqs, &Cmp{Field: f.Field, Op: Eq, Value: v})
	}
	return orOf(append(terms, andOf(append(eqs, &Cmp{Field: "_id", Op: Gt, Value: last["_id"]}))))
}

func orOf(es []Expr) Expr {
	if len(es) == 1 {
		return es[0]
	}
	return &Or{Exprs: es}
}

// beyond returns a filter for the values of f.Field that sort strictly after
// v in f's direction, or nil when none can.
func beyond(f SortField, v any) Expr {
	field := f.Field
	same := func(op Op) Expr { return &Cmp{Field: field, Op: op, Value: v} }
	isNull := &Cmp{Field: field, Op: Eq, Value: nil}
	isNumber := &Cmp{Field: field, Op: Gte, Value: -math.MaxFloat64}
	isString := &Cmp{Field: field, Op: Gte, Value: ""}
	isObject := &Cmp{Field: field, Op: Gte, Value: map[string]any{}}
	isBool := &In{Field: field, Values: []any{false, true}}
	if !f.Desc {
		switch x := v.(type) {
		case nil:
			return &Cmp{Field: field, Op: Ne, Value: nil}
		case float64:
			return &Or{Exprs: []Expr{same(Gt), isString, isObject, isBool}}
		case string:
			return &Or{Exprs: []Expr{same(Gt), isObject, isBool}}
		case map[string]any, []any:
			return &Or{Exprs: []Expr{same(Gt), isBool}}
		case bool:
			if x {
				return nil
			}
			return same(Gt)
		}
		return nil
	}
	switch x := v.(type) {
	case float64:
		return &Or{Exprs: []Expr{same(Lt), isNull}}
	case string:
		return &Or{Exprs: []Expr{same(Lt), isNumber, isNull}}
	case map[string]any, []any:
		return &Or{Exprs: []Expr{same(Lt), isString, isNumber, isNull}}
	case bool:
		if x {
			return &Or{Exprs: []Expr{same(Lt), isObject, isString, isNumber, isNull}}
		}
		return &Or{Exprs: []Expr{isObject, isString, isNumber, isNull}}
	}
	return nil
}

// cursorBody is the JSON inside a cursor: the sort key of the last document
// of a page for each sort field, and its _id.
type cursorBody struct {
	V  []any  `json:"v"`
	ID string `json:"id"`
}

// EncodeCursor returns an opaque cursor (base64url JSON) naming the position
// just after last in the order sort. DecodeCursor and After turn it back into
// a filter for the next page.
func EncodeCursor(sort []SortField, last map[string]any) string {
	body := cursorBody{V: make([]any, len(sort))}
	for i, f := range sort {
		v := sortKey(last, f)
		if _, ok := v.(emptyArray); ok {
			v = nil
		}
		body.V[i] = v
	}
	body.ID, _ = last["_id"].(string)
	raw, _ := json.Marshal(body) // JSON values only: cannot fail
	return base64.RawURLEncoding.EncodeToString(raw)
}

// DecodeCursor checks a cursor a client sent back and returns a document
// holding its sort values and _id, to pass to After with the same sort. A
// cursor that is malformed, too long, or made for another sort is a *Error.
func DecodeCursor(sort []SortField, cursor string) (map[string]any, error) {
	bad := errorf("invalid cursor")
	if len(cursor) > MaxCursorLen {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, bad
	}
	var body cursorBody
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || dec.More() || body.ID == "" || len(body.V) != len(sort) {
		return nil, bad
	}
	var p parser
	doc := map[string]any{"_id": body.ID}
	for i, f := range sort {
		if p.literal(body.V[i], 2) != nil {
			return nil, bad
		}
		if f.Field == "_id" {
			if body.V[i] != body.ID {
				return nil, bad
			}
			continue
		}
		setPath(doc, f.Field, body.V[i])
	}
	return doc, nil
}

// setPath stores v at a dotted path, creating objects on the way. Sort
// fields never overlap (ParseSort), so no value is overwritten.
func setPath(doc map[string]any, path string, v any) {
	for {
		seg, rest, more := strings.Cut(path, ".")
		if !more {
			doc[seg] = v
			return
		}
		sub, ok := doc[seg].(map[string]any)
		if !ok {
			sub = map[string]any{}
			doc[seg] = sub
		}
		doc, path = sub, rest
	}
}
