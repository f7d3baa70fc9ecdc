package query

import "fmt"

// Format renders e in MongoDB filter syntax, as map[string]any and []any
// values that encoding/json or a BSON encoder can write, so that an adapter
// hands MongoDB only trees that Parse (or After) built. Parse(Format(e))
// yields an equivalent tree. Comparisons are spelled with their operator
// ($eq), never implied, so literal values cannot be mistaken for operators;
// an And is written as one document ({a: {$gt: 1, $lt: 5}, b: {$eq: 2}})
// where no field or operator repeats, and as $and otherwise.
func Format(e Expr) (map[string]any, error) {
	switch n := e.(type) {
	case nil:
		return map[string]any{}, nil
	case *And:
		if merged, ok := formatMerged(n); ok {
			return merged, nil
		}
		list, err := formatList(n.Exprs)
		if err != nil {
			return nil, err
		}
		return map[string]any{"$and": list}, nil
	case *Or:
		if len(n.Exprs) == 0 {
			// MongoDB rejects an empty $or; this matches nothing instead.
			return map[string]any{"_id": map[string]any{"$in": []any{}}}, nil
		}
		list, err := formatList(n.Exprs)
		if err != nil {
			return nil, err
		}
		return map[string]any{"$or": list}, nil
	}
	field, ops, err := formatOps(e)
	if err != nil {
		return nil, err
	}
	if field == "" {
		return nil, fmt.Errorf("query: cannot format an element condition outside $elemMatch")
	}
	return map[string]any{field: ops}, nil
}

// formatMerged writes an And as a single document, MongoDB's implicit AND,
// when its conditions can share one: distinct fields, or distinct operators
// on one field, and at most one $or.
func formatMerged(n *And) (map[string]any, bool) {
	out := map[string]any{}
	for _, x := range n.Exprs {
		var m map[string]any
		var err error
		switch x.(type) {
		case *Or, *And:
			m, err = Format(x)
		default:
			var field string
			var ops map[string]any
			field, ops, err = formatOps(x)
			if field == "" {
				return nil, false
			}
			m = map[string]any{field: ops}
		}
		if err != nil {
			return nil, false
		}
		for k, v := range m {
			prev, dup := out[k]
			if !dup {
				out[k] = v
				continue
			}
			a, okA := prev.(map[string]any)
			b, okB := v.(map[string]any)
			if k == "$and" || k == "$or" || !okA || !okB {
				return nil, false
			}
			for op, val := range b {
				if _, clash := a[op]; clash {
					return nil, false
				}
				a[op] = val
			}
		}
	}
	return out, true
}

func formatList(es []Expr) ([]any, error) {
	list := make([]any, len(es))
	for i, x := range es {
		m, err := Format(x)
		if err != nil {
			return nil, err
		}
		list[i] = m
	}
	return list, nil
}

// formatOps renders a field-level condition, or an And of conditions on one
// field (the operand of $not and of a value-form $elemMatch), as an operator
// object.
func formatOps(e Expr) (string, map[string]any, error) {
	ops := map[string]any{}
	var field string
	var add func(e Expr, first bool) error
	add = func(e Expr, first bool) error {
		var f, key string
		var val any
		switch n := e.(type) {
		case *And:
			for i, x := range n.Exprs {
				if err := add(x, first && i == 0); err != nil {
					return err
				}
			}
			return nil
		case *Cmp:
			f, key, val = n.Field, n.Op.String(), n.Value
		case *In:
			f, key, val = n.Field, "$in", n.Values
			if n.Not {
				key = "$nin"
			}
		case *All:
			f, key, val = n.Field, "$all", n.Values
		case *Exists:
			f, key, val = n.Field, "$exists", n.Exists
		case *Size:
			f, key, val = n.Field, "$size", float64(n.N)
		case *Regex:
			f, key, val = n.Field, "$regex", n.Pattern
			if n.Options != "" {
				ops["$options"] = n.Options
			}
		case *ElemMatch:
			f, key = n.Field, "$elemMatch"
			var err error
			if n.Values {
				_, val, err = formatOps(n.Expr)
			} else {
				val, err = Format(n.Expr)
			}
			if err != nil {
				return err
			}
		case *Not:
			_, inner, err := formatOps(n.Expr)
			if err != nil {
				return err
			}
			f, key, val = n.Field, "$not", inner
		default:
			return fmt.Errorf("query: cannot format %T as a field condition", e)
		}
		if first {
			field = f
		} else if f != field {
			return fmt.Errorf("query: conditions on %q and %q cannot share an operator object", field, f)
		}
		if _, dup := ops[key]; dup {
			return fmt.Errorf("query: operator %s repeats on %q", key, f)
		}
		ops[key] = val
		return nil
	}
	if err := add(e, true); err != nil {
		return "", nil, err
	}
	return field, ops, nil
}
