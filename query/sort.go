package query

import (
	"encoding/binary"
	"math"
	"strings"
)

// MaxSortFields bounds a sort order, as MongoDB bounds index keys.
const MaxSortFields = 32

// ParseSort parses a sort parameter: comma-separated fields, each ascending
// unless prefixed with "-" or suffixed with ":desc" or ":-1" (":asc", ":1"
// and a "+" prefix say ascending explicitly). "-price,name" sorts by price
// descending, then name. An empty string is no sort.
func ParseSort(s string) ([]SortField, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []SortField
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		f := SortField{Field: item}
		if i := strings.LastIndexByte(item, ':'); i >= 0 {
			switch item[i+1:] {
			case "desc", "-1":
				f = SortField{Field: item[:i], Desc: true}
			case "asc", "1":
				f = SortField{Field: item[:i]}
			}
		}
		if f.Field == item {
			switch {
			case strings.HasPrefix(item, "-"):
				f = SortField{Field: item[1:], Desc: true}
			case strings.HasPrefix(item, "+"):
				f = SortField{Field: item[1:]}
			}
		}
		if f.Field == "" {
			return nil, errorf("empty sort field in %q", s)
		}
		if err := checkField(f.Field); err != nil {
			return nil, err
		}
		out = append(out, f)
		if len(out) > MaxSortFields {
			return nil, errorf("too many sort fields (max %d)", MaxSortFields)
		}
	}
	fields := make([]string, len(out))
	for i, f := range out {
		fields[i] = f.Field
	}
	if err := checkOverlap("sort", fields); err != nil {
		return nil, err
	}
	return out, nil
}

// checkOverlap rejects a list where one path equals or contains another
// ("a" and "a.b"), which MongoDB refuses as a path collision.
func checkOverlap(what string, fields []string) *Error {
	for i, a := range fields {
		for _, b := range fields[:i] {
			if a == b || strings.HasPrefix(a, b+".") || strings.HasPrefix(b, a+".") {
				return errorf("%s fields %q and %q overlap", what, b, a)
			}
		}
	}
	return nil
}

// emptyArray is the sort key of a field holding []: MongoDB sorts it before
// null and missing, in both directions of its own.
type emptyArray struct{}

// keyCollector keeps the smallest (ascending) or largest (descending) of the
// values a path yields: MongoDB sorts an array field by its extreme element.
type keyCollector struct {
	desc bool
	have bool
	key  any
}

func (k *keyCollector) matchElem(v any, present bool) bool {
	if !present {
		v = nil
	}
	if !k.have {
		k.key, k.have = v, true
		return false
	}
	if c := sortCompare(v, k.key); (k.desc && c > 0) || (!k.desc && c < 0) {
		k.key = v
	}
	return false
}

// sortKey is the value doc is sorted by for f: nil for null or missing, the
// extreme element for arrays, emptyArray{} for [].
func sortKey(doc map[string]any, f SortField) any {
	k := keyCollector{desc: f.Desc}
	walk(doc, f.Field, sortKeys, &k)
	return k.key
}

func sortCompare(a, b any) int {
	_, ea := a.(emptyArray)
	_, eb := b.(emptyArray)
	switch {
	case ea && eb:
		return 0
	case ea:
		return -1
	case eb:
		return 1
	}
	return Compare(a, b)
}

// CompareDocs orders two documents by sort and then by _id, the total order
// that Find and keyset cursors use. It returns -1, 0 or +1.
func CompareDocs(sort []SortField, a, b map[string]any) int {
	for _, f := range sort {
		c := sortCompare(sortKey(a, f), sortKey(b, f))
		if f.Desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return Compare(a["_id"], b["_id"])
}

// AppendSortKey appends to dst a byte string whose bytewise order is the
// order of doc's sort key for f in ascending direction (for a descending
// field compare the keys in reverse). It lets a store without MongoDB's type
// order, such as SQLite, sort by it: bytes.Compare of two keys equals
// sortCompare of the values.
func AppendSortKey(dst []byte, doc map[string]any, f SortField) []byte {
	return appendKey(dst, sortKey(doc, f))
}

// Key tags are in type order; terminators are 0x00 so that a shorter
// string, array or object sorts first. tagEmptyArray is the lowest tag: an
// empty array sorts before null in MongoDB's key order. Every other value's
// tag is its rank plus one.
const tagEmptyArray = 0x01

// keyTag is a value's type rank shifted by one, so that an empty array
// (which sorts before null in MongoDB's key order) can take the lowest tag.
func keyTag(v any) byte {
	if r := rank(v); r != rankOther {
		return byte(r) + 1
	}
	return tagEmptyArray
}

func appendKey(dst []byte, v any) []byte {
	return appendKeyBody(append(dst, keyTag(v)), v)
}

func appendKeyBody(dst []byte, v any) []byte {
	switch x := v.(type) {
	case float64:
		if x == 0 {
			x = 0 // -0 equals 0
		}
		bits := math.Float64bits(x)
		if bits>>63 == 0 {
			bits |= 1 << 63
		} else {
			bits = ^bits
		}
		return binary.BigEndian.AppendUint64(dst, bits)
	case string:
		return appendEscaped(dst, x)
	case map[string]any:
		// Field by field: type, then name, then value, as BSON compares.
		for _, k := range sortedKeys(x) {
			dst = append(dst, keyTag(x[k]))
			dst = appendEscaped(dst, k)
			dst = appendKeyBody(dst, x[k])
		}
		return append(dst, 0)
	case []any:
		for _, el := range x {
			dst = appendKey(dst, el)
		}
		return append(dst, 0)
	case bool:
		if x {
			return append(dst, 1)
		}
		return append(dst, 0)
	}
	return dst
}

// appendEscaped writes s so that bytewise order is kept and the end is
// unambiguous: NUL becomes 00 FF and the terminator is 00 00.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			dst = append(dst, 0, 0xff)
		} else {
			dst = append(dst, s[i])
		}
	}
	return append(dst, 0, 0)
}
