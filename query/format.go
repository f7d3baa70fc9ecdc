package query

import "fmt"

// Format renders e in MongoDB filter syntax, as map[string]any and []any
// values that encoding/json or a BSON encoder can write, so that an adapter
// hands MongoDB only trees that Parse (or After) built. Parse(Format(e))
// yields an equivalent tree. Conditions are always spelled out ($and, $eq),
// never implied, so literal values cannot be mistaken for operators.
func Format(e Expr) (map[string]any, error) {
	switch n := e.(type) {
	case nil:
		return map[string]any{}, nil
	case *And:
		if len(n.Exprs) == 0 {
			return map[string]any{}, nil
		}
		if len(n.Exprs) == 1 {
			return Format(n.Exprs[0])
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
