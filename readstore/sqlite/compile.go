package sqlite

import (
	"strconv"
	"strings"

	"github.com/eventbase/eventbase/query"
)

// How a filter becomes SQL.
//
// A leaf on a dotted path p reads json_extract(root, '$."a"."b"') and
// json_type(root, ...). Like MongoDB it also matches when the value is an
// array with a matching element, through EXISTS over json_each. When a
// proper prefix of the path holds an array (an array of objects), MongoDB
// fans out over the elements; that case is rare enough to hand to rm_match,
// a Go function that runs query.Match on the part of the document the leaf
// reads, so SQL and Match agree by construction. Paths with positional
// segments ("items.0.sku") or with '"' or '\' in a segment (which SQLite's
// JSON path syntax cannot quote) always take rm_match.
//
// An indexed field that no document has ever held an array or object on
// (plain, tracked per index like MongoDB's multikey flag) compiles to
// conditions on the two indexed expressions, rank and value, so that SQLite
// answers it from the index. Every user value is a bound parameter; only
// paths are SQL literals, quoted, because an expression index only serves a
// query whose expression is textually the same.

// segments splits a validated dotted path.
func segments(field string) []string { return strings.Split(field, ".") }

// quotable reports whether SQLite's JSON path syntax can name the segment.
func quotable(seg string) bool { return !strings.ContainsAny(seg, `"\`) }

// simple reports whether SQL can follow the path: every segment quotable and
// none all digits (which MongoDB may read as an array position).
func simple(segs []string) bool {
	for _, s := range segs {
		if !quotable(s) || strings.Trim(s, "0123456789") == "" {
			return false
		}
	}
	return true
}

// jsonPath renders segments as an SQL string literal holding an SQLite JSON
// path: '$."a"."b"'.
func jsonPath(segs []string) string {
	var b strings.Builder
	b.WriteString("'$")
	for _, s := range segs {
		b.WriteString(`."`)
		b.WriteString(strings.ReplaceAll(s, "'", "''"))
		b.WriteByte('"')
	}
	b.WriteByte('\'')
	return b.String()
}

// rankExpr and valueExpr are the two columns of the index on a field (then
// _id). The rank puts JSON types in MongoDB's order (null and missing 1,
// numbers 2, strings 3, objects 4, arrays 5, booleans 6); json_extract alone
// would mix booleans (0 and 1) with numbers.
func rankExpr(path string) string {
	return "CASE json_type(data, " + path + ") WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 3" +
		" WHEN 'true' THEN 6 WHEN 'false' THEN 6 WHEN 'object' THEN 4 WHEN 'array' THEN 5 ELSE 1 END"
}

func valueExpr(path string) string { return "json_extract(data, " + path + ")" }

// slot is a JSON value as SQL sees it: its value as json_extract returns it,
// its json_type (NULL when missing), and an expression that is the value as
// JSON text where JSON functions need it (NULL when it cannot be an array).
//
// SQLite does not short-circuit AND and OR when it computes a value (inside
// NOT, coalesce or CASE) rather than jumping on a WHERE term, so a type test
// does not shield a JSON function from a non-JSON argument: the arguments
// themselves must always be valid JSON or NULL.
type slot struct{ val, typ, json string }

func pathSlot(root, path string) slot {
	return slot{val: "json_extract(" + root + ", " + path + ")", typ: "json_type(" + root + ", " + path + ")", json: root + " -> " + path}
}

func elemSlot(alias string) slot {
	return slot{val: alias + ".value", typ: alias + ".type", json: "(CASE WHEN " + alias + ".type IN ('array', 'object') THEN " + alias + ".value END)"}
}

// compiler turns a query.Expr into SQL, collecting bound arguments and the
// Go-side state (regexps, fallback leaves, sort keys) of one statement. ?1 is
// always the id of that state in the store's registry.
type compiler struct {
	args  []any
	plan  *plan
	plain map[string]bool // indexed fields that hold only scalars
	enc   encoder
	alias int
}

// newCompiler starts a statement whose plan register makes reachable from
// SQL functions.
func newCompiler(register func(*plan) int64, plain map[string]bool) *compiler {
	p := &plan{}
	return &compiler{args: []any{register(p)}, plan: p, plain: plain}
}

func (c *compiler) arg(v any) string {
	c.args = append(c.args, v)
	return "?" + strconv.Itoa(len(c.args))
}

// jsonArg binds an object or array literal as canonical JSON text.
func (c *compiler) jsonArg(v any) string { return c.arg(string(c.enc.encode(v))) }

// join combines conditions with AND or OR as a balanced tree: a long flat
// chain would exceed SQLite's expression depth limit.
func join(parts []string, op string) string {
	switch {
	case len(parts) == 1:
		return parts[0]
	case len(parts) <= 8:
		return "(" + strings.Join(parts, op) + ")"
	}
	mid := len(parts) / 2
	return "(" + join(parts[:mid], op) + op + join(parts[mid:], op) + ")"
}

func not(cond string) string { return "(NOT coalesce(" + cond + ", 0))" }

// where compiles e against the JSON object root ("data", or an element of a
// $elemMatch). In AND and OR a NULL acts as false, which is what we want;
// under NOT it would stay NULL, so every negation goes through not().
func (c *compiler) where(e query.Expr, root string) string {
	switch n := e.(type) {
	case nil:
		return "1"
	case *query.And:
		if len(n.Exprs) == 0 {
			return "1"
		}
		parts := make([]string, len(n.Exprs))
		for i, x := range n.Exprs {
			parts[i] = c.where(x, root)
		}
		return join(parts, " AND ")
	case *query.Or:
		if len(n.Exprs) == 0 {
			return "0"
		}
		parts := make([]string, len(n.Exprs))
		for i, x := range n.Exprs {
			parts[i] = c.where(x, root)
		}
		return join(parts, " OR ")
	case *query.Not:
		return not(c.where(n.Expr, root))
	}
	return c.leaf(e, root)
}

func (c *compiler) leaf(e query.Expr, root string) string {
	field := query.FieldOf(e)
	if root == "data" && field == "_id" {
		if s, ok := c.idLeaf(e); ok {
			return s
		}
	}
	segs := segments(field)
	if !simple(segs) {
		return c.fallback(e, root, segs)
	}
	path := jsonPath(segs)
	if root == "data" && c.plain[field] {
		return c.fastLeaf(e, path)
	}
	s := pathSlot(root, path)
	direct, ok := c.pathLeaf(e, s, "json_each("+root+", "+path+")")
	if !ok {
		return c.fallback(e, root, segs)
	}
	if len(segs) == 1 {
		return direct
	}
	prefixes := make([]string, len(segs)-1)
	for i := range prefixes {
		prefixes[i] = "json_type(" + root + ", " + jsonPath(segs[:i+1]) + ") = 'array'"
	}
	return "(CASE WHEN " + strings.Join(prefixes, " OR ") + " THEN " + c.fallback(e, root, segs) + " ELSE " + direct + " END)"
}

// fallback evaluates the leaf in Go on the subtree of its first segment.
func (c *compiler) fallback(e query.Expr, root string, segs []string) string {
	k := len(c.plan.leaves)
	key, arg := "", root
	if quotable(segs[0]) {
		key, arg = segs[0], root+" -> "+jsonPath(segs[:1])
	}
	c.plan.leaves = append(c.plan.leaves, fallbackLeaf{expr: e, key: key})
	return "rm_match(?1, " + strconv.Itoa(k) + ", " + arg + ")"
}

// pathLeaf compiles a leaf whose path has no array before its last segment.
// each is the json_each source over the value, for MongoDB's rule that a
// condition holds for an array when it holds for one of its elements.
func (c *compiler) pathLeaf(e query.Expr, s slot, each string) (string, bool) {
	switch n := e.(type) {
	case *query.Cmp:
		op := n.Op
		if op == query.Ne {
			op = query.Eq
		}
		cond, ok := c.traverse(s, each, func(v slot) (string, bool) { return c.cmp(op, n.Value, v) })
		if !ok {
			return "", false
		}
		if n.Op == query.Ne {
			return not(cond), true
		}
		return cond, true
	case *query.In:
		cond, ok := c.traverse(s, each, func(v slot) (string, bool) { return c.in(n.Values, v) })
		if !ok {
			return "", false
		}
		if n.Not {
			return not(cond), true
		}
		return cond, true
	case *query.All:
		if len(n.Values) == 0 {
			return "0", true
		}
		parts := make([]string, len(n.Values))
		for i, want := range n.Values {
			cond, ok := c.traverse(s, each, func(v slot) (string, bool) { return c.cmp(query.Eq, want, v) })
			if !ok {
				return "", false
			}
			parts[i] = cond
		}
		return join(parts, " AND "), true
	case *query.Exists:
		if n.Exists {
			return "(" + s.typ + " IS NOT NULL)", true
		}
		return "(" + s.typ + " IS NULL)", true
	case *query.Size:
		return "(" + s.typ + " = 'array' AND json_array_length(" + s.json + ") = " + strconv.Itoa(n.N) + ")", true
	case *query.Regex:
		return c.traverse(s, each, func(v slot) (string, bool) { return c.regex(n, v), true })
	case *query.ElemMatch:
		return c.elemMatch(n, s, each)
	}
	return "", false
}

// traverse is cond(value) OR (value is an array AND cond(some element)).
func (c *compiler) traverse(s slot, each string, cond func(slot) (string, bool)) (string, bool) {
	direct, ok := cond(s)
	if !ok {
		return "", false
	}
	a := c.nextAlias()
	inner, ok := cond(elemSlot(a))
	if !ok {
		return "", false
	}
	return "(" + direct + " OR (" + s.typ + " = 'array' AND EXISTS (SELECT 1 FROM " + each + " AS " + a + " WHERE " + inner + ")))", true
}

func (c *compiler) nextAlias() string {
	c.alias++
	return "j" + strconv.Itoa(c.alias)
}

var sqlOps = map[query.Op]string{query.Eq: "=", query.Gt: ">", query.Gte: ">=", query.Lt: "<", query.Lte: "<="}

// cmp compiles one comparison of a single value (no array traversal) with
// MongoDB's type bracketing: only values of the operand's type class match.
func (c *compiler) cmp(op query.Op, want any, s slot) (string, bool) {
	switch x := want.(type) {
	case nil:
		if op == query.Eq || op == query.Gte || op == query.Lte {
			return "(" + s.val + " IS NULL)", true
		}
		return "0", true
	case float64:
		return "(" + s.typ + " IN ('integer', 'real') AND " + s.val + " " + sqlOps[op] + " " + c.arg(x) + ")", true
	case string:
		return "(" + s.typ + " = 'text' AND " + s.val + " " + sqlOps[op] + " " + c.arg(x) + ")", true
	case bool:
		return boolCond(op, x, s.typ), true
	case map[string]any:
		switch {
		case op == query.Eq:
			return "(" + s.typ + " = 'object' AND " + s.val + " = " + c.jsonArg(x) + ")", true
		case len(x) == 0 && op == query.Gte:
			// Every object sorts at or after {}: the type test of keyset cursors.
			return "(" + s.typ + " = 'object')", true
		}
	case []any:
		if op == query.Eq {
			return "(" + s.typ + " = 'array' AND " + s.val + " = " + c.jsonArg(x) + ")", true
		}
	}
	// Ordering objects and arrays needs BSON comparison: rm_match does it.
	return "", false
}

// boolCond lists which of false and true satisfy "v op want".
func boolCond(op query.Op, want bool, typ string) string {
	var ok []string
	for _, v := range []bool{false, true} {
		c := 0
		switch {
		case v && !want:
			c = 1
		case !v && want:
			c = -1
		}
		if (op == query.Eq && c == 0) || (op == query.Gt && c > 0) || (op == query.Gte && c >= 0) ||
			(op == query.Lt && c < 0) || (op == query.Lte && c <= 0) {
			ok = append(ok, "'"+strconv.FormatBool(v)+"'")
		}
	}
	if len(ok) == 0 {
		return "0"
	}
	return "(" + typ + " IN (" + strings.Join(ok, ", ") + "))"
}

// in compiles membership of a single value, grouping the listed values by
// type so that each group is one SQL IN list.
func (c *compiler) in(values []any, s slot) (string, bool) {
	var nums, strs, objs, arrs []string
	var parts []string
	var null, f, t bool
	for _, v := range values {
		switch x := v.(type) {
		case nil:
			null = true
		case float64:
			nums = append(nums, c.arg(x))
		case string:
			strs = append(strs, c.arg(x))
		case bool:
			f, t = f || !x, t || x
		case map[string]any:
			objs = append(objs, c.jsonArg(x))
		case []any:
			arrs = append(arrs, c.jsonArg(x))
		}
	}
	if null {
		parts = append(parts, "("+s.val+" IS NULL)")
	}
	if len(nums) > 0 {
		parts = append(parts, "("+s.typ+" IN ('integer', 'real') AND "+s.val+" IN ("+strings.Join(nums, ", ")+"))")
	}
	if len(strs) > 0 {
		parts = append(parts, "("+s.typ+" = 'text' AND "+s.val+" IN ("+strings.Join(strs, ", ")+"))")
	}
	switch {
	case f && t:
		parts = append(parts, "("+s.typ+" IN ('false', 'true'))")
	case f:
		parts = append(parts, "("+s.typ+" = 'false')")
	case t:
		parts = append(parts, "("+s.typ+" = 'true')")
	}
	if len(objs) > 0 {
		parts = append(parts, "("+s.typ+" = 'object' AND "+s.val+" IN ("+strings.Join(objs, ", ")+"))")
	}
	if len(arrs) > 0 {
		parts = append(parts, "("+s.typ+" = 'array' AND "+s.val+" IN ("+strings.Join(arrs, ", ")+"))")
	}
	if len(parts) == 0 {
		return "0", true
	}
	return join(parts, " OR "), true
}

func (c *compiler) regex(r *query.Regex, s slot) string {
	k := len(c.plan.regexps)
	c.plan.regexps = append(c.plan.regexps, r.Regexp())
	return "(" + s.typ + " = 'text' AND rm_regex(?1, " + strconv.Itoa(k) + ", " + s.val + "))"
}

// elemMatch compiles $elemMatch on the value s, whose elements json_each
// source each lists.
func (c *compiler) elemMatch(n *query.ElemMatch, s slot, each string) (string, bool) {
	a := c.nextAlias()
	var inner string
	if n.Values {
		var ok bool
		if inner, ok = c.element(n.Expr, elemSlot(a)); !ok {
			return "", false
		}
	} else {
		// MongoDB applies the filter to object elements, and to array
		// elements read as objects keyed "0", "1", ...: those go to Go.
		k := len(c.plan.leaves)
		c.plan.leaves = append(c.plan.leaves, fallbackLeaf{expr: n.Expr})
		inner = "((" + a + ".type = 'object' AND " + c.where(n.Expr, "(CASE WHEN "+a+".type = 'object' THEN "+a+".value END)") + ")" +
			" OR (" + a + ".type = 'array' AND rm_match(?1, " + strconv.Itoa(k) + ", CASE WHEN " + a + ".type = 'array' THEN " + a + ".value END)))"
	}
	return "(" + s.typ + " = 'array' AND EXISTS (SELECT 1 FROM " + each + " AS " + a + " WHERE " + inner + "))", true
}

// element compiles the operand of a value-form $elemMatch: conditions on one
// array element itself, without traversal.
func (c *compiler) element(e query.Expr, s slot) (string, bool) {
	switch n := e.(type) {
	case *query.And, *query.Or:
		var list []query.Expr
		op := " AND "
		if and, ok := n.(*query.And); ok {
			list = and.Exprs
		} else {
			list, op = n.(*query.Or).Exprs, " OR "
		}
		if len(list) == 0 {
			return map[string]string{" AND ": "1", " OR ": "0"}[op], true
		}
		parts := make([]string, len(list))
		for i, x := range list {
			p, ok := c.element(x, s)
			if !ok {
				return "", false
			}
			parts[i] = p
		}
		return join(parts, op), true
	case *query.Not:
		p, ok := c.element(n.Expr, s)
		if !ok {
			return "", false
		}
		return not(p), true
	case *query.Cmp:
		if n.Op == query.Ne {
			p, ok := c.cmp(query.Eq, n.Value, s)
			if !ok {
				return "", false
			}
			return not(p), true
		}
		return c.cmp(n.Op, n.Value, s)
	case *query.In:
		p, ok := c.in(n.Values, s)
		if ok && n.Not {
			p = not(p)
		}
		return p, ok
	case *query.All:
		if len(n.Values) == 0 {
			return "0", true
		}
		parts := make([]string, len(n.Values))
		for i, want := range n.Values {
			p, ok := c.cmp(query.Eq, want, s)
			if !ok {
				return "", false
			}
			parts[i] = p
		}
		return join(parts, " AND "), true
	case *query.Exists:
		// An element is always present.
		if n.Exists {
			return "1", true
		}
		return "0", true
	case *query.Size:
		return "(" + s.typ + " = 'array' AND json_array_length(" + s.json + ") = " + strconv.Itoa(n.N) + ")", true
	case *query.Regex:
		return c.regex(n, s), true
	case *query.ElemMatch:
		return c.elemMatch(n, s, "json_each("+s.json+")")
	}
	return "", false
}

// idLeaf compiles conditions on _id, which is always a string, against the
// primary key column instead of the JSON text.
func (c *compiler) idLeaf(e query.Expr) (string, bool) {
	switch n := e.(type) {
	case *query.Cmp:
		s, isString := n.Value.(string)
		var cond string
		switch {
		case isString && n.Op == query.Ne:
			cond = "_id <> " + c.arg(s)
		case isString:
			cond = "_id " + sqlOps[n.Op] + " " + c.arg(s)
		case n.Op == query.Ne:
			cond = "1"
		default:
			cond = "0"
		}
		return cond, true
	case *query.In:
		var ids []string
		for _, v := range n.Values {
			if s, ok := v.(string); ok {
				ids = append(ids, c.arg(s))
			}
		}
		cond := "0"
		if len(ids) > 0 {
			cond = "_id IN (" + strings.Join(ids, ", ") + ")"
		}
		if n.Not {
			cond = "NOT " + cond
		}
		return cond, true
	}
	return "", false
}

// fastLeaf compiles a leaf on a plain indexed field as conditions on the
// index's rank and value expressions. No document holds an array or object
// there, so no traversal is needed and object operands match nothing.
func (c *compiler) fastLeaf(e query.Expr, path string) string {
	r, v := rankExpr(path), valueExpr(path)
	switch n := e.(type) {
	case *query.Cmp:
		if n.Op == query.Ne {
			return "NOT " + c.fastEq(n.Value, r, v)
		}
		if n.Op == query.Eq {
			return c.fastEq(n.Value, r, v)
		}
		switch x := n.Value.(type) {
		case nil:
			if n.Op == query.Gte || n.Op == query.Lte {
				return "(" + r + " = 1)"
			}
		case float64:
			return "(" + r + " = 2 AND " + v + " " + sqlOps[n.Op] + " " + c.arg(x) + ")"
		case string:
			return "(" + r + " = 3 AND " + v + " " + sqlOps[n.Op] + " " + c.arg(x) + ")"
		case bool:
			return boolCond(n.Op, x, "json_type(data, "+path+")")
		}
		return "0"
	case *query.In:
		parts := make([]string, 0, len(n.Values))
		for _, x := range n.Values {
			parts = append(parts, c.fastEq(x, r, v))
		}
		cond := "0"
		if len(parts) > 0 {
			cond = join(parts, " OR ")
		}
		if n.Not {
			return "NOT " + cond
		}
		return cond
	case *query.All:
		if len(n.Values) == 0 {
			return "0"
		}
		parts := make([]string, len(n.Values))
		for i, x := range n.Values {
			parts[i] = c.fastEq(x, r, v)
		}
		return join(parts, " AND ")
	case *query.Exists:
		if n.Exists {
			return "(json_type(data, " + path + ") IS NOT NULL)"
		}
		return "(json_type(data, " + path + ") IS NULL)"
	case *query.Regex:
		k := len(c.plan.regexps)
		c.plan.regexps = append(c.plan.regexps, n.Regexp())
		return "(" + r + " = 3 AND rm_regex(?1, " + strconv.Itoa(k) + ", " + v + "))"
	}
	// $size and $elemMatch need an array, which a plain field never holds.
	return "0"
}

// fastEq is equality on a plain indexed field; it is never NULL, so NOT
// applies to it directly.
func (c *compiler) fastEq(want any, r, v string) string {
	switch x := want.(type) {
	case nil:
		return "(" + r + " = 1)"
	case float64:
		return "(" + r + " = 2 AND " + v + " = " + c.arg(x) + ")"
	case string:
		return "(" + r + " = 3 AND " + v + " = " + c.arg(x) + ")"
	case bool:
		b := "0"
		if x {
			b = "1"
		}
		return "(" + r + " = 6 AND " + v + " = " + b + ")"
	}
	return "0"
}

// pinnedRank returns the rank that a top-level condition of filter forces
// on field, or 0. ORDER BY then leaves the rank out: SQLite does not see that
// an index ordered by (rank, value) still delivers rows in order when the
// rank is fixed by an equality, and would sort.
func pinnedRank(filter query.Expr, field string) int {
	switch n := filter.(type) {
	case *query.And:
		for _, e := range n.Exprs {
			if r := pinnedRank(e, field); r != 0 {
				return r
			}
		}
	case *query.Cmp:
		if n.Field != field || n.Op == query.Ne {
			return 0
		}
		switch n.Value.(type) {
		case nil:
			if n.Op != query.Gt && n.Op != query.Lt {
				return 1
			}
		case float64:
			return 2
		case string:
			return 3
		case bool:
			return 6
		}
	case *query.Regex:
		if n.Field == field {
			return 3
		}
	}
	return 0
}

// orderBy compiles a sort: plain indexed fields by the index expressions,
// others by rm_sortkey, MongoDB's sort key as order-preserving bytes; then
// _id.
func (c *compiler) orderBy(filter query.Expr, sort []query.SortField) string {
	var terms []string
	for _, f := range sort {
		dir := ""
		if f.Desc {
			dir = " DESC"
		}
		if f.Field == "_id" {
			return strings.Join(append(terms, "_id"+dir), ", ")
		}
		segs := segments(f.Field)
		if simple(segs) && c.plain[f.Field] {
			path := jsonPath(segs)
			if pinnedRank(filter, f.Field) == 0 {
				terms = append(terms, rankExpr(path)+dir)
			}
			terms = append(terms, valueExpr(path)+dir)
			continue
		}
		k := len(c.plan.sorts)
		key, arg := "", "data"
		if quotable(segs[0]) {
			key, arg = segs[0], "data -> "+jsonPath(segs[:1])
		}
		c.plan.sorts = append(c.plan.sorts, sortKey{field: f, key: key})
		terms = append(terms, "rm_sortkey(?1, "+strconv.Itoa(k)+", "+arg+")"+dir)
	}
	return strings.Join(append(terms, "_id"), ", ")
}
