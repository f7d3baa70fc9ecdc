package query

// AllOf returns the conjunction of the non-nil exprs: nil when there are
// none, the expr itself when there is one. Callers use it to add access
// scopes and cursors to a client's filter.
func AllOf(exprs ...Expr) Expr {
	var kept []Expr
	for _, e := range exprs {
		if e != nil {
			kept = append(kept, e)
		}
	}
	switch len(kept) {
	case 0:
		return nil
	case 1:
		return kept[0]
	}
	return &And{Exprs: kept}
}

// FieldOf returns the field a leaf node (or a field-level $not) is about,
// and "" for $and and $or.
func FieldOf(e Expr) string {
	switch n := e.(type) {
	case *Cmp:
		return n.Field
	case *In:
		return n.Field
	case *All:
		return n.Field
	case *Exists:
		return n.Field
	case *Size:
		return n.Field
	case *Regex:
		return n.Field
	case *ElemMatch:
		return n.Field
	case *Not:
		return n.Field
	}
	return ""
}
