package mongo

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Payloads are stored as BSON values so that users can query them with their
// own tools, but they are user data, not Extended JSON: {"$date": 1} must
// come back as that object, not as a date. The converters below therefore
// map JSON to BSON by hand: objects to documents (key order kept), arrays to
// arrays, strings, booleans and null to themselves, integers to int32 or
// int64, other numbers to double when the double reads back as the same
// number and to decimal128 otherwise. A payload that BSON cannot hold (a key
// with a NUL byte, nesting deeper than the server allows, a number beyond
// decimal128) is stored verbatim as a string in payload_json instead.

// maxPayloadDepth keeps payload documents within the server's nesting limit
// of 100 levels, with room for the levels of the commit document around
// them.
const maxPayloadDepth = 90

var errNotBSON = errors.New("payload has no faithful BSON form")

// appendPayloadElement appends the payload as element key of a document
// under construction: a BSON value when it has a faithful form, otherwise
// the raw JSON as a string under rawKey.
func appendPayloadElement(dst []byte, key, rawKey string, payload []byte) []byte {
	p := jsonParser{src: payload}
	start := len(dst)
	out, err := p.appendElement(dst, key, 0)
	if err == nil {
		p.skipSpace()
		if p.pos == len(p.src) {
			return out
		}
	}
	return bsoncore.AppendStringElement(dst[:start], rawKey, string(payload))
}

type jsonParser struct {
	src []byte
	pos int
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// appendElement parses one JSON value and appends it as a BSON element
// named key.
func (p *jsonParser) appendElement(dst []byte, key string, depth int) ([]byte, error) {
	if strings.IndexByte(key, 0) >= 0 || depth > maxPayloadDepth {
		return nil, errNotBSON
	}
	p.skipSpace()
	if p.pos >= len(p.src) {
		return nil, errNotBSON
	}
	switch c := p.src[p.pos]; {
	case c == '{':
		p.pos++
		var idx int32
		idx, dst = bsoncore.AppendDocumentElementStart(dst, key)
		p.skipSpace()
		if p.pos < len(p.src) && p.src[p.pos] == '}' {
			p.pos++
			return bsoncore.AppendDocumentEnd(dst, idx)
		}
		for {
			p.skipSpace()
			name, err := p.string()
			if err != nil {
				return nil, err
			}
			p.skipSpace()
			if p.pos >= len(p.src) || p.src[p.pos] != ':' {
				return nil, errNotBSON
			}
			p.pos++
			if dst, err = p.appendElement(dst, name, depth+1); err != nil {
				return nil, err
			}
			p.skipSpace()
			if p.pos >= len(p.src) {
				return nil, errNotBSON
			}
			p.pos++
			switch p.src[p.pos-1] {
			case ',':
			case '}':
				return bsoncore.AppendDocumentEnd(dst, idx)
			default:
				return nil, errNotBSON
			}
		}
	case c == '[':
		p.pos++
		var idx int32
		idx, dst = bsoncore.AppendArrayElementStart(dst, key)
		p.skipSpace()
		if p.pos < len(p.src) && p.src[p.pos] == ']' {
			p.pos++
			return bsoncore.AppendArrayEnd(dst, idx)
		}
		var ibuf [20]byte
		for i := 0; ; i++ {
			var err error
			if dst, err = p.appendElement(dst, string(strconv.AppendInt(ibuf[:0], int64(i), 10)), depth+1); err != nil {
				return nil, err
			}
			p.skipSpace()
			if p.pos >= len(p.src) {
				return nil, errNotBSON
			}
			p.pos++
			switch p.src[p.pos-1] {
			case ',':
			case ']':
				return bsoncore.AppendArrayEnd(dst, idx)
			default:
				return nil, errNotBSON
			}
		}
	case c == '"':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return bsoncore.AppendStringElement(dst, key, s), nil
	case c == 't' || c == 'f' || c == 'n':
		for _, lit := range [...]string{"true", "false", "null"} {
			if strings.HasPrefix(string(p.src[p.pos:min(len(p.src), p.pos+5)]), lit) {
				p.pos += len(lit)
				if lit == "null" {
					return bsoncore.AppendNullElement(dst, key), nil
				}
				return bsoncore.AppendBooleanElement(dst, key, lit == "true"), nil
			}
		}
		return nil, errNotBSON
	default:
		return p.number(dst, key)
	}
}

// string parses a JSON string at p.pos.
func (p *jsonParser) string() (string, error) {
	if p.pos >= len(p.src) || p.src[p.pos] != '"' {
		return "", errNotBSON
	}
	start := p.pos
	plain := true
	for i := start + 1; i < len(p.src); i++ {
		switch c := p.src[i]; {
		case c == '\\':
			plain = false
			i++
		case c == '"':
			p.pos = i + 1
			raw := p.src[start+1 : i]
			if plain && utf8.Valid(raw) {
				return string(raw), nil
			}
			// Escapes (surrogate pairs included) and invalid UTF-8 are
			// decoded the way encoding/json decodes them.
			var s string
			if err := json.Unmarshal(p.src[start:p.pos], &s); err != nil {
				return "", errNotBSON
			}
			return s, nil
		case c < 0x20:
			return "", errNotBSON
		}
	}
	return "", errNotBSON
}

// number parses a JSON number at p.pos and appends it as the narrowest BSON
// number that holds it exactly.
func (p *jsonParser) number(dst []byte, key string) ([]byte, error) {
	start := p.pos
	integer := true
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c >= '0' && c <= '9' || c == '-' || c == '+' {
			p.pos++
			continue
		}
		if c == '.' || c == 'e' || c == 'E' {
			integer = false
			p.pos++
			continue
		}
		break
	}
	lit := string(p.src[start:p.pos])
	if lit == "" {
		return nil, errNotBSON
	}
	if integer {
		if n, err := strconv.ParseInt(lit, 10, 64); err == nil {
			if n >= math.MinInt32 && n <= math.MaxInt32 {
				return bsoncore.AppendInt32Element(dst, key, int32(n)), nil
			}
			return bsoncore.AppendInt64Element(dst, key, n), nil
		}
	}
	if f, err := strconv.ParseFloat(lit, 64); err == nil && sameNumber(lit, f) {
		return bsoncore.AppendDoubleElement(dst, key, f), nil
	}
	d, err := bson.ParseDecimal128(lit)
	if err != nil {
		return nil, errNotBSON
	}
	h, l := d.GetBytes()
	return bsoncore.AppendDecimal128Element(dst, key, h, l), nil
}

// sameNumber reports whether the shortest text of f denotes exactly the
// number lit does, that is whether f reads back as the number written.
func sameNumber(lit string, f float64) bool {
	short := strconv.FormatFloat(f, 'g', -1, 64)
	if short == lit {
		return true
	}
	// Exact comparison costs time in the exponent and the digits: refuse
	// literals no double can mean exactly anyway, so hostile input stays
	// cheap (it is stored as decimal128 or verbatim).
	if len(lit) > 40 {
		return false
	}
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		if exp, err := strconv.Atoi(lit[i+1:]); err != nil || exp > 400 || exp < -400 {
			return false
		}
	}
	a, ok1 := new(big.Rat).SetString(lit)
	b, ok2 := new(big.Rat).SetString(short)
	return ok1 && ok2 && a.Cmp(b) == 0
}

// payloadJSON renders a stored payload value as JSON. Values written by this
// package are the types produced above; anything else (a document edited by
// other tools) is rendered as relaxed Extended JSON.
func payloadJSON(v bsoncore.Value) ([]byte, error) {
	return appendValueJSON(make([]byte, 0, len(v.Data)+16), v)
}

func appendValueJSON(dst []byte, v bsoncore.Value) ([]byte, error) {
	switch v.Type {
	case bsoncore.TypeEmbeddedDocument, bsoncore.TypeArray:
		elems, err := bsoncore.Document(v.Data).Elements()
		if err != nil {
			return nil, err
		}
		opening, closing := byte('{'), byte('}')
		if v.Type == bsoncore.TypeArray {
			opening, closing = '[', ']'
		}
		dst = append(dst, opening)
		for i, e := range elems {
			if i > 0 {
				dst = append(dst, ',')
			}
			if v.Type == bsoncore.TypeEmbeddedDocument {
				dst = appendJSONString(dst, e.Key())
				dst = append(dst, ':')
			}
			if dst, err = appendValueJSON(dst, e.Value()); err != nil {
				return nil, err
			}
		}
		return append(dst, closing), nil
	case bsoncore.TypeString:
		s, ok := v.StringValueOK()
		if !ok {
			return nil, errors.New("malformed string")
		}
		return appendJSONString(dst, s), nil
	case bsoncore.TypeInt32:
		return strconv.AppendInt(dst, int64(v.Int32()), 10), nil
	case bsoncore.TypeInt64:
		return strconv.AppendInt(dst, v.Int64(), 10), nil
	case bsoncore.TypeDouble:
		return appendJSONFloat(dst, v.Double()), nil
	case bsoncore.TypeDecimal128:
		d := bson.NewDecimal128(v.Decimal128())
		s := d.String()
		if strings.Contains(s, "N") { // NaN, Infinity: no JSON form
			return append(dst, "null"...), nil
		}
		return append(dst, s...), nil
	case bsoncore.TypeBoolean:
		return strconv.AppendBool(dst, v.Boolean()), nil
	case bsoncore.TypeNull, bsoncore.TypeUndefined:
		return append(dst, "null"...), nil
	default:
		doc := bsoncore.BuildDocument(nil, bsoncore.AppendValueElement(nil, "v", v))
		ext, err := bson.MarshalExtJSON(bson.Raw(doc), false, false)
		if err != nil {
			return nil, err
		}
		// ext is {"v":<value>}.
		ext = ext[strings.IndexByte(string(ext), ':')+1 : len(ext)-1]
		return append(dst, ext...), nil
	}
}

// appendJSONFloat formats f as encoding/json does.
func appendJSONFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, replacing invalid UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
