package query

import "strings"

// MaxFields bounds a projection.
const MaxFields = 100

// ParseFields parses a projection parameter: comma-separated dotted paths,
// e.g. "title,author.name". An empty string is no projection (nil).
func ParseFields(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var fields []string
	for f := range strings.SplitSeq(s, ",") {
		fields = append(fields, strings.TrimSpace(f))
	}
	if err := CheckFields(fields); err != nil {
		return nil, err
	}
	return fields, nil
}

// CheckFields validates a projection: valid paths, at most MaxFields, none
// overlapping another ("a" with "a.b", which MongoDB rejects).
func CheckFields(fields []string) error {
	if len(fields) > MaxFields {
		return errorf("too many fields (max %d)", MaxFields)
	}
	for _, f := range fields {
		if f == "" {
			return errorf("empty field in projection")
		}
		if err := checkField(f); err != nil {
			return err
		}
	}
	if err := checkOverlap("projection", fields); err != nil {
		return err
	}
	return nil
}

// Project returns a document with only the fields listed (checked by
// CheckFields) and _id, with MongoDB's inclusion semantics: a path through an
// array projects each element, dropping elements that are not objects or
// arrays, and an object on the path is kept even when it lacks the rest of
// the path ({"a.b"} turns {a: {c: 1}} into {a: {}}). The result shares
// values with doc.
func Project(doc map[string]any, fields []string) map[string]any {
	root := &projNode{}
	for _, f := range fields {
		n := root
		for seg := range strings.SplitSeq(f, ".") {
			child := n.children[seg]
			if child == nil {
				child = &projNode{}
				if n.children == nil {
					n.children = map[string]*projNode{}
				}
				n.children[seg] = child
			}
			n = child
		}
		n.leaf = true
	}
	out := projectObject(doc, root)
	if id, ok := doc["_id"]; ok {
		out["_id"] = id
	}
	return out
}

type projNode struct {
	leaf     bool
	children map[string]*projNode
}

func projectObject(obj map[string]any, n *projNode) map[string]any {
	out := make(map[string]any, len(n.children))
	for k, child := range n.children {
		v, ok := obj[k]
		if !ok {
			continue
		}
		if child.leaf {
			out[k] = v
		} else if pv, ok := projectValue(v, child); ok {
			out[k] = pv
		}
	}
	return out
}

func projectValue(v any, n *projNode) (any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return projectObject(x, n), true
	case []any:
		out := make([]any, 0, len(x))
		for _, el := range x {
			if pv, ok := projectValue(el, n); ok {
				out = append(out, pv)
			}
		}
		return out, true
	}
	return nil, false
}
