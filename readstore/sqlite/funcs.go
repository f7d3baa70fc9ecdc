package sqlite

import (
	"database/sql/driver"
	"encoding/json"
	"errors"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/eventbase/eventbase/query"
	"modernc.org/sqlite"
)

// plan is the Go-side state of one compiled statement that SQL functions
// reach through the plan id bound as ?1: compiled regexps, leaves evaluated
// by query.Match, and sort fields.
type plan struct {
	regexps []*regexp.Regexp
	leaves  []fallbackLeaf
	sorts   []sortKey
}

// fallbackLeaf is a condition evaluated in Go. The SQL passes the JSON of the
// document's key field, or with key "" the whole object, or an array element
// that $elemMatch reads as an object.
type fallbackLeaf struct {
	expr query.Expr
	key  string
}

type sortKey struct {
	field query.SortField
	key   string
}

// plans registers the plans of running statements. It belongs to one Store,
// whose private driver's functions read it.
type plans struct {
	next atomic.Int64
	m    sync.Map // int64 -> *plan
}

func (ps *plans) add(p *plan) int64 {
	id := ps.next.Add(1)
	ps.m.Store(id, p)
	return id
}

func (ps *plans) remove(id int64) { ps.m.Delete(id) }

var errNoPlan = errors.New("readstore/sqlite: internal function called outside a query")

func (ps *plans) get(args []driver.Value) (*plan, int, error) {
	id, _ := args[0].(int64)
	k, _ := args[1].(int64)
	p, ok := ps.m.Load(id)
	if !ok {
		return nil, 0, errNoPlan
	}
	return p.(*plan), int(k), nil
}

// newDriver returns a driver whose connections have this store's functions:
// rm_regex(plan, k, text), rm_match(plan, k, json) and rm_sortkey(plan, k,
// json). A private driver keeps them off every other SQLite connection in
// the process.
func newDriver(ps *plans) (*sqlite.Driver, error) {
	d := &sqlite.Driver{}
	err := d.RegisterFunction("rm_regex", &sqlite.FunctionImpl{
		NArgs:        3,
		VolatileArgs: true, // the text is only read during the call
		Scalar: func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			p, k, err := ps.get(args)
			if err != nil {
				return nil, err
			}
			s, ok := args[2].(string)
			return ok && p.regexps[k].MatchString(s), nil
		},
	})
	if err != nil {
		return nil, err
	}
	err = d.RegisterScalarFunction("rm_match", 3, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		p, k, err := ps.get(args)
		if err != nil {
			return nil, err
		}
		l := p.leaves[k]
		root, err := subtree(args[2], l.key)
		if err != nil {
			return nil, err
		}
		return query.Match(l.expr, root), nil
	})
	if err != nil {
		return nil, err
	}
	err = d.RegisterScalarFunction("rm_sortkey", 3, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		p, k, err := ps.get(args)
		if err != nil {
			return nil, err
		}
		s := p.sorts[k]
		root, err := subtree(args[2], s.key)
		if err != nil {
			return nil, err
		}
		return query.AppendSortKey(nil, root, s.field), nil
	})
	return d, err
}

// subtree rebuilds the part of a document a Go function needs: the JSON of
// field key as {key: value}, or with key "" the whole object (an array as
// its IndexObject).
func subtree(arg driver.Value, key string) (map[string]any, error) {
	text, ok := arg.(string)
	if !ok {
		return map[string]any{}, nil // key absent
	}
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		return nil, err
	}
	if key != "" {
		return map[string]any{key: v}, nil
	}
	if arr, ok := v.([]any); ok {
		return query.IndexObject(arr), nil
	}
	m, _ := v.(map[string]any)
	return m, nil
}
