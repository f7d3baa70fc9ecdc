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
