package mongo

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// encoder writes JSON values as BSON straight into a byte slice: numbers as
// doubles, object keys sorted. Sorted keys make the stored field order
// canonical, which MongoDB needs for equality with a whole subdocument
// ({dims: {w: 1, h: 2}}) to hold regardless of how a map was built. keys is
// scratch space reused across documents.
type encoder struct {
	keys []string
}

// document appends m as a BSON document. Values were checked by
// docs.Validate or query.Parse.
func (e *encoder) document(dst []byte, m map[string]any) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	start := len(e.keys)
	for k := range m {
		e.keys = append(e.keys, k)
	}
	slices.Sort(e.keys[start:])
	end := len(e.keys)
	for i := start; i < end; i++ {
		// Nested documents grow e.keys past end and truncate back, so index
		// afresh rather than holding a subslice.
		k := e.keys[i]
		dst = e.element(dst, k, m[k])
	}
	clear(e.keys[start:end])
	e.keys = e.keys[:start]
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx) // cannot fail: idx is ours
	return dst
}

// stored appends doc as the store keeps it: _id, the other top-level
// fields with their names escaped (see escape), then the position it was
// written from, if any.
func (e *encoder) stored(dst []byte, doc map[string]any, pos int64) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	// _id first, where MongoDB would move it.
	dst = e.element(dst, "_id", doc["_id"])
	start := len(e.keys)
	for k := range doc {
		if k != "_id" {
			e.keys = append(e.keys, k)
		}
	}
	slices.Sort(e.keys[start:])
	end := len(e.keys)
	for i := start; i < end; i++ {
		k := e.keys[i]
		dst = e.element(dst, escape(k), doc[k])
	}
	clear(e.keys[start:end])
	e.keys = e.keys[:start]
	if pos > 0 {
		dst = bsoncore.AppendInt64Element(dst, posField, pos)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// tombstone is what a positioned Delete leaves of document id.
func tombstone(id string, pos int64) bson.Raw {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst = bsoncore.AppendStringElement(dst, "_id", id)
	dst = bsoncore.AppendInt64Element(dst, posField, pos)
	dst = bsoncore.AppendBooleanElement(dst, deletedField, true)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

func (e *encoder) element(dst []byte, key string, v any) []byte {
	switch x := v.(type) {
	case nil:
		return bsoncore.AppendNullElement(dst, key)
	case bool:
		return bsoncore.AppendBooleanElement(dst, key, x)
	case float64:
		return bsoncore.AppendDoubleElement(dst, key, x)
	case string:
		return bsoncore.AppendStringElement(dst, key, x)
	case int:
		// Sort directions and projection flags.
		return bsoncore.AppendInt32Element(dst, key, int32(x))
	case []any:
		idx, dst := bsoncore.AppendArrayElementStart(dst, key)
		var num [20]byte
		for i, el := range x {
			dst = e.element(dst, string(strconv.AppendInt(num[:0], int64(i), 10)), el)
		}
		dst, _ = bsoncore.AppendArrayEnd(dst, idx)
		return dst
	case map[string]any:
		dst = bsoncore.AppendHeader(dst, bsoncore.TypeEmbeddedDocument, key)
		return e.document(dst, x)
	case bson.D:
		idx, dst := bsoncore.AppendDocumentElementStart(dst, key)
		for _, el := range x {
			dst = e.element(dst, el.Key, el.Value)
		}
		dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
		return dst
	}
	// Unreachable for validated input; a visible value beats a panic.
	return bsoncore.AppendStringElement(dst, key, fmt.Sprint(v))
}

// ordered appends a bson.D (an operator document whose order matters, such
// as a sort) as a document.
func (e *encoder) ordered(dst []byte, d bson.D) []byte {
	idx, dst := bsoncore.AppendDocumentStart(dst)
	for _, el := range d {
		dst = e.element(dst, el.Key, el.Value)
	}
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

var errBSON = errors.New("readstore/mongo: malformed BSON from server")

// decoder turns BSON documents into JSON values: every number becomes a
// float64, documents map[string]any, arrays []any. Types this store never
// writes, found in documents other tools put in the collection, become their
// closest JSON reading (ObjectId as hex, dates as RFC 3339 text). Field names
// are shared across the documents of one result.
type decoder struct {
	keys map[string]string
}

const maxInterned = 1024

// stored decodes a document as the store keeps it: top-level names
// unescaped, the store's own fields left out.
func (d *decoder) stored(raw []byte) (map[string]any, error) { return d.object(raw, true) }

// document decodes a nested document.
func (d *decoder) document(raw []byte) (map[string]any, error) { return d.object(raw, false) }

func (d *decoder) object(raw []byte, top bool) (map[string]any, error) {
	length, rest, ok := bsoncore.ReadLength(raw)
	if !ok || int(length) > len(raw) || length < 5 {
		return nil, errBSON
	}
	rest = raw[4 : length-1]
	m := make(map[string]any)
	for len(rest) > 0 {
		el, next, ok := bsoncore.ReadElement(rest)
		if !ok {
			return nil, errBSON
		}
		rest = next
		key := el.KeyBytes()
		if top && bytes.HasPrefix(key, metaPrefixBytes) {
			if !bytes.HasPrefix(key[len(metaPrefix):], metaPrefixBytes) {
				continue // the store's own
			}
			key = key[len(metaPrefix):]
		}
		v, err := d.value(el.Value())
		if err != nil {
			return nil, err
		}
		m[d.intern(key)] = v
	}
	return m, nil
}

func (d *decoder) array(raw []byte) ([]any, error) {
	length, _, ok := bsoncore.ReadLength(raw)
	if !ok || int(length) > len(raw) || length < 5 {
		return nil, errBSON
	}
	rest := raw[4 : length-1]
	arr := []any{}
	for len(rest) > 0 {
		el, next, ok := bsoncore.ReadElement(rest)
		if !ok {
			return nil, errBSON
		}
		v, err := d.value(el.Value())
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
		rest = next
	}
	return arr, nil
}

func (d *decoder) intern(key []byte) string {
	if s, ok := d.keys[string(key)]; ok {
		return s
	}
	s := string(key)
	if d.keys == nil {
		d.keys = map[string]string{}
	}
	if len(d.keys) < maxInterned {
		d.keys[s] = s
	}
	return s
}

func (d *decoder) value(v bsoncore.Value) (any, error) {
	switch v.Type {
	case bsoncore.TypeDouble:
		f, ok := v.DoubleOK()
		if !ok {
			return nil, errBSON
		}
		return f, nil
	case bsoncore.TypeString:
		s, ok := v.StringValueOK()
		if !ok {
			return nil, errBSON
		}
		return s, nil
	case bsoncore.TypeEmbeddedDocument:
		return d.document(v.Data)
	case bsoncore.TypeArray:
		return d.array(v.Data)
	case bsoncore.TypeBoolean:
		b, ok := v.BooleanOK()
		if !ok {
			return nil, errBSON
		}
		return b, nil
	case bsoncore.TypeNull, bsoncore.TypeUndefined:
		return nil, nil
	case bsoncore.TypeInt32:
		i, _ := v.Int32OK()
		return float64(i), nil
	case bsoncore.TypeInt64:
		i, _ := v.Int64OK()
		return float64(i), nil
	case bsoncore.TypeDecimal128:
		h, l, _ := v.Decimal128OK()
		s := bson.NewDecimal128(h, l).String()
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, nil
		}
		return s, nil
	case bsoncore.TypeObjectID:
		id, _ := v.ObjectIDOK()
		return hex.EncodeToString(id[:]), nil
	case bsoncore.TypeDateTime:
		t, _ := v.TimeOK()
		return t.UTC().Format(time.RFC3339Nano), nil
	}
	return v.String(), nil
}
