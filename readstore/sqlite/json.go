package sqlite

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// encoder writes the canonical JSON text this store keeps: compact, object
// keys sorted, numbers formatted as encoding/json formats float64, no HTML
// escaping. Canonical text matters beyond storage: equality with an object
// or array literal is a comparison of JSON texts in SQL, so a literal must be
// spelled exactly as the stored value. keys is scratch space reused across
// documents so that Put does not allocate per object.
type encoder struct {
	buf  []byte
	keys []string
}

func (e *encoder) encode(v any) []byte {
	e.buf = e.buf[:0]
	e.value(v)
	return e.buf
}

func (e *encoder) value(v any) {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, "null"...)
	case bool:
		e.buf = strconv.AppendBool(e.buf, x)
	case float64:
		e.buf = appendFloat(e.buf, x)
	case string:
		e.buf = appendString(e.buf, x)
	case []any:
		e.buf = append(e.buf, '[')
		for i, el := range x {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			e.value(el)
		}
		e.buf = append(e.buf, ']')
	case map[string]any:
		start := len(e.keys)
		for k := range x {
			e.keys = append(e.keys, k)
		}
		slices.Sort(e.keys[start:])
		end := len(e.keys)
		e.buf = append(e.buf, '{')
		for i := start; i < end; i++ {
			if i > start {
				e.buf = append(e.buf, ',')
			}
			// Nested objects append to e.keys past end and truncate back,
			// so index afresh rather than holding a subslice.
			k := e.keys[i]
			e.buf = appendString(e.buf, k)
			e.buf = append(e.buf, ':')
			e.value(x[k])
		}
		e.buf = append(e.buf, '}')
		clear(e.keys[start:end])
		e.keys = e.keys[:start]
	}
}

// appendFloat formats like encoding/json, so a value reads back as the same
// float64.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Go writes e-07; JSON convention (and encoding/json) is e-7.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as a JSON string. Documents were validated as UTF-8,
// so only quotes, backslashes and control characters need escaping.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// decoder parses the JSON text of stored documents into the values
// encoding/json produces (float64 numbers, map[string]any objects, []any
// arrays), faster than encoding/json's reflection-driven path and sharing one
// string per distinct field name across the documents of a result.
type decoder struct {
	keys map[string]string
}

// maxInterned bounds the field names a decoder remembers.
const maxInterned = 1024

var errSyntax = errors.New("readstore/sqlite: malformed JSON in stored document")

func (d *decoder) document(data []byte) (map[string]any, error) {
	v, rest, err := d.value(data)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok || len(skipSpace(rest)) != 0 {
		return nil, errSyntax
	}
	return obj, nil
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

func (d *decoder) value(b []byte) (any, []byte, error) {
	b = skipSpace(b)
	if len(b) == 0 {
		return nil, nil, errSyntax
	}
	switch c := b[0]; {
	case c == '{':
		return d.object(b[1:])
	case c == '[':
		return d.array(b[1:])
	case c == '"':
		s, rest, err := d.str(b)
		return s, rest, err
	case c == 't' && len(b) >= 4 && string(b[:4]) == "true":
		return true, b[4:], nil
	case c == 'f' && len(b) >= 5 && string(b[:5]) == "false":
		return false, b[5:], nil
	case c == 'n' && len(b) >= 4 && string(b[:4]) == "null":
		return nil, b[4:], nil
	case c == '-' || (c >= '0' && c <= '9'):
		i := 1
		for i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] == '.' || b[i] == 'e' || b[i] == 'E' || b[i] == '+' || b[i] == '-') {
			i++
		}
		f, err := strconv.ParseFloat(string(b[:i]), 64)
		if err != nil {
			return nil, nil, errSyntax
		}
		return f, b[i:], nil
	}
	return nil, nil, errSyntax
}

func (d *decoder) object(b []byte) (any, []byte, error) {
	obj := map[string]any{}
	b = skipSpace(b)
	if len(b) > 0 && b[0] == '}' {
		return obj, b[1:], nil
	}
	for {
		b = skipSpace(b)
		if len(b) == 0 || b[0] != '"' {
			return nil, nil, errSyntax
		}
		raw, rest, escaped, err := scanString(b)
		if err != nil {
			return nil, nil, err
		}
		var key string
		if escaped {
			key = unescape(raw)
		} else {
			key = d.intern(raw)
		}
		b = skipSpace(rest)
		if len(b) == 0 || b[0] != ':' {
			return nil, nil, errSyntax
		}
		var v any
		if v, b, err = d.value(b[1:]); err != nil {
			return nil, nil, err
		}
		obj[key] = v
		b = skipSpace(b)
		if len(b) == 0 {
			return nil, nil, errSyntax
		}
		switch b[0] {
		case ',':
			b = b[1:]
		case '}':
			return obj, b[1:], nil
		default:
			return nil, nil, errSyntax
		}
	}
}

func (d *decoder) array(b []byte) (any, []byte, error) {
	arr := []any{}
	b = skipSpace(b)
	if len(b) > 0 && b[0] == ']' {
		return arr, b[1:], nil
	}
	for {
		v, rest, err := d.value(b)
		if err != nil {
			return nil, nil, err
		}
		arr = append(arr, v)
		b = skipSpace(rest)
		if len(b) == 0 {
			return nil, nil, errSyntax
		}
		switch b[0] {
		case ',':
			b = b[1:]
		case ']':
			return arr, b[1:], nil
		default:
			return nil, nil, errSyntax
		}
	}
}

func (d *decoder) intern(raw []byte) string {
	if s, ok := d.keys[string(raw)]; ok {
		return s
	}
	s := string(raw)
	if d.keys == nil {
		d.keys = map[string]string{}
	}
	if len(d.keys) < maxInterned {
		d.keys[s] = s
	}
	return s
}

func (d *decoder) str(b []byte) (string, []byte, error) {
	raw, rest, escaped, err := scanString(b)
	if err != nil {
		return "", nil, err
	}
	if escaped {
		return unescape(raw), rest, nil
	}
	return string(raw), rest, nil
}

// scanString splits a quoted string off b: its raw content, what follows,
// and whether the content holds escapes.
func scanString(b []byte) (raw, rest []byte, escaped bool, err error) {
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '"':
			return b[1:i], b[i+1:], escaped, nil
		case '\\':
			escaped = true
			i++
		}
	}
	return nil, nil, false, errSyntax
}

// unescape decodes the content of a JSON string holding escapes, the way
// encoding/json does (lone surrogates become U+FFFD).
func unescape(raw []byte) string {
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 >= len(raw) {
			out = append(out, c)
			continue
		}
		i++
		switch raw[i] {
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'u':
			r, n := hexRune(raw[i+1:])
			i += n
			if utf16.IsSurrogate(r) {
				if len(raw) > i+2 && raw[i+1] == '\\' && raw[i+2] == 'u' {
					r2, n2 := hexRune(raw[i+3:])
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 2 + n2
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, raw[i])
		}
	}
	return string(out)
}

func hexRune(b []byte) (rune, int) {
	if len(b) < 4 {
		return utf8.RuneError, len(b)
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return utf8.RuneError, 4
		}
	}
	return r, 4
}
