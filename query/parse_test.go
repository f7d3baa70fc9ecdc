package query

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"$and":[`, 16) + `{"a":1}` + strings.Repeat(`]}`, 16)
	deepValue := `{"a":` + strings.Repeat(`[`, 32) + strings.Repeat(`]`, 32) + `}`
	many := `{"a":{"$in":[` + strings.TrimSuffix(strings.Repeat(`1,`, MaxValues+1), ",") + `]}}`
	long := `{"a":{"$regex":"` + strings.Repeat("é", MaxRegexLen+1) + `"}}`
	terms := `{"$or":[` + strings.TrimSuffix(strings.Repeat(`{"a":{"$in":[`+strings.TrimSuffix(strings.Repeat(`1,`, 1000), ",")+`]}},`, 11), ",") + `]}`
	tests := []struct {
		in, want string
	}{
		{`{"$where":"sleep(1000)"}`, `unsupported operator "$where"`},
		{`{"$function":{}}`, `unsupported operator "$function"`},
		{`{"$accumulator":{}}`, `unsupported operator "$accumulator"`},
		{`{"$expr":{"$eq":["$a","$b"]}}`, `unsupported operator "$expr"`},
		{`{"$nor":[{"a":1}]}`, `unsupported operator "$nor"`},
		{`{"$text":{"$search":"x"}}`, `unsupported operator "$text"`},
		{`{"a":{"$where":"1"}}`, `unsupported operator "$where"`},
		{`{"a":{"$type":"string"}}`, `unsupported operator "$type"`},
		{`{"a":{"$mod":[2,0]}}`, `unsupported operator "$mod"`},
		{`{"a":{"$not":{"$where":"1"}}}`, `unsupported operator "$where"`},
		{`{"a":{"$elemMatch":{"$where":"1"}}}`, `unsupported operator "$where"`},
		{`{"a":{"$elemMatch":{"b":{"$function":{}}}}}`, `unsupported operator "$function"`},
		{`{"$or":[{"$where":"1"}]}`, `unsupported operator "$where"`},
		{`{"a":{"$eq":{"$where":"1"}}}`, `unsupported operator "$where"`},
		{`{"a":{"b":{"$where":"1"}}}`, `unsupported operator "$where"`},
		{`{"a":{"$in":[{"$gt":1}]}}`, `operator "$gt" is not allowed inside a value`},
		{`{"a":{"b":{"$gt":1}}}`, `operator "$gt" is not allowed inside a value`},
		{`{"$gt":1}`, `operator "$gt" must be applied to a field`},
		{`{"$not":{"a":1}}`, `operator "$not" must be applied to a field`},
		{`{"a":{"$and":[{"b":1}]}}`, `operator "$and" is not allowed on a field`},
		{`{"$and":[]}`, `$and must be a non-empty array of objects`},
		{`{"$or":{"a":1}}`, `$or must be a non-empty array of objects`},
		{`{"$or":[1]}`, `$or must be a non-empty array of objects`},
		{`{"a":{"$gt":1,"b":2}}`, `cannot mix operators and field names in "a"`},
		{`{"a..b":1}`, `invalid field name "a..b": empty segment`},
		{`{"a.":1}`, `invalid field name "a.": empty segment`},
		{`{"":1}`, `invalid field name "": empty segment`},
		{`{"a.$b":1}`, `invalid field name "a.$b": segment starts with $`},
		{`{"a\u0000b":1}`, `invalid field name "a\x00b": contains NUL`},
		{`{"a":{"$eq":{"b\u0000":1}}}`, `invalid field name "b\x00": contains NUL`},
		{deep, `filter is nested too deeply (max depth 32)`},
		{deepValue, `filter is nested too deeply (max depth 32)`},
		{many, `$in has more than 1000 values`},
		{terms, `filter has more than 10000 terms`},
		{`{"a":{"$nin":5}}`, `$nin must be an array`},
		{`{"a":{"$all":"x"}}`, `$all must be an array`},
		{`{"a":{"$exists":"yes"}}`, `$exists must be a boolean`},
		{`{"a":{"$size":-1}}`, `$size must be a non-negative integer`},
		{`{"a":{"$size":1.5}}`, `$size must be a non-negative integer`},
		{`{"a":{"$size":"1"}}`, `$size must be a non-negative integer`},
		{`{"a":{"$regex":5}}`, `$regex must be a string`},
		{long, `$regex is longer than 256 characters`},
		{`{"a":{"$regex":"(a"}}`, "invalid $regex: error parsing regexp: missing closing ): `(a`"},
		{`{"a":{"$regex":"(?<=a)b"}}`, "invalid $regex: error parsing regexp: invalid named capture: `(?<=a)b`"},
		{`{"a":{"$regex":"a","$options":"g"}}`, `unsupported $regex option "g"`},
		{`{"a":{"$regex":"a","$options":1}}`, `$options must be a string`},
		{`{"a":{"$options":"i"}}`, `$options requires $regex`},
		{`{"a":{"$not":5}}`, `$not must be a non-empty object of operators`},
		{`{"a":{"$not":{}}}`, `$not must be a non-empty object of operators`},
		{`{"a":{"$not":{"b":1}}}`, `$not must be a non-empty object of operators`},
		{`{"a":{"$elemMatch":[]}}`, `$elemMatch must be a non-empty object`},
		{`{"a":{"$elemMatch":{}}}`, `$elemMatch must be a non-empty object`},
		{`{"a":{"$elemMatch":{"$gt":1,"b":1}}}`, `$elemMatch cannot mix operators and field names`},
		{`[1]`, `filter must be a JSON object`},
		{`null`, `filter must be a JSON object`},
		{`{"a":1`, `invalid JSON: unexpected end of JSON input`},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 40)], func(t *testing.T) {
			t.Parallel()
			e, err := Parse(json.RawMessage(tt.in))
			if err == nil {
				t.Fatalf("Parse(%s) = %#v, want error %q", tt.in, e, tt.want)
			}
			var qe *Error
			if !errors.As(err, &qe) {
				t.Fatalf("error %v is %T, want *query.Error", err, err)
			}
			if qe.Message != tt.want {
				t.Fatalf("Parse(%s) error %q, want %q", tt.in, qe.Message, tt.want)
			}
		})
	}
}

// TestParseTree checks the tree Parse builds through its canonical MongoDB
// rendering.
func TestParseTree(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`{}`, `{}`},
		{`{"a":5}`, `{"a":{"$eq":5}}`},
		{`{"a":{"b":1}}`, `{"a":{"$eq":{"b":1}}}`},
		{`{"a":{}}`, `{"a":{"$eq":{}}}`},
		{`{"b":1,"a":null}`, `{"a":{"$eq":null},"b":{"$eq":1}}`},
		{`{"a":{"$gt":1,"$lt":5}}`, `{"a":{"$gt":1,"$lt":5}}`},
		{`{"$and":[{"a":{"$gt":1}},{"a":{"$gt":2}}]}`, `{"$and":[{"a":{"$gt":1}},{"a":{"$gt":2}}]}`},
		{`{"$and":[{"$or":[{"a":1}]},{"$or":[{"b":1}]}],"c":1}`, `{"$and":[{"$or":[{"a":{"$eq":1}}]},{"$or":[{"b":{"$eq":1}}]}],"c":{"$eq":1}}`},
		{`{"a.b":{"$in":[1,"x"]},"c":{"$nin":[]}}`, `{"a.b":{"$in":[1,"x"]},"c":{"$nin":[]}}`},
		{`{"$or":[{"a":1},{"b":{"$exists":0}}]}`, `{"$or":[{"a":{"$eq":1}},{"b":{"$exists":false}}]}`},
		{`{"a":{"$not":{"$gt":1,"$lt":5}}}`, `{"a":{"$not":{"$gt":1,"$lt":5}}}`},
		{`{"a":{"$regex":"^x","$options":"im"}}`, `{"a":{"$options":"im","$regex":"^x"}}`},
		{`{"a":{"$elemMatch":{"$gte":1,"$lt":3}}}`, `{"a":{"$elemMatch":{"$gte":1,"$lt":3}}}`},
		{`{"a":{"$elemMatch":{"b":1,"c":{"$gt":2}}}}`, `{"a":{"$elemMatch":{"b":{"$eq":1},"c":{"$gt":2}}}}`},
		{`{"a":{"$elemMatch":{"$or":[{"b":1},{"c":2}]}}}`, `{"a":{"$elemMatch":{"$or":[{"b":{"$eq":1}},{"c":{"$eq":2}}]}}}`},
		{`{"a":{"$size":2.0,"$all":[1,2]}}`, `{"a":{"$all":[1,2],"$size":2}}`},
	}
	for _, tt := range tests {
		e, err := Parse(json.RawMessage(tt.in))
		if err != nil {
			t.Fatalf("Parse(%s): %v", tt.in, err)
		}
		m, err := Format(e)
		if err != nil {
			t.Fatalf("Format(Parse(%s)): %v", tt.in, err)
		}
		got, _ := json.Marshal(m)
		if string(got) != tt.want {
			t.Errorf("Parse(%s) renders %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestRegexOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, options, subject string
		want                      bool
	}{
		{"^abc", "", "ABC", false},
		{"^abc", "i", "ABC", true},
		{"^b", "", "a\nb", false},
		{"^b", "m", "a\nb", true},
		{"a.b", "", "a\nb", false},
		{"a.b", "s", "a\nb", true},
		{"a b # comment\n c", "x", "abc", true},
		{`a\ b`, "x", "a b", true},
		{"[ ]x", "x", " x", true},
		{"[]a]+", "x", "]a]", true},
		{`a\#b`, "x", "a#b", true},
	}
	for _, tt := range tests {
		raw, _ := json.Marshal(map[string]any{"s": map[string]any{"$regex": tt.pattern, "$options": tt.options}})
		e, err := Parse(raw)
		if err != nil {
			t.Fatalf("Parse(%s): %v", raw, err)
		}
		if got := Match(e, map[string]any{"s": tt.subject}); got != tt.want {
			t.Errorf("%q with options %q on %q = %v, want %v", tt.pattern, tt.options, tt.subject, got, tt.want)
		}
	}
}

func TestParseMapSameAsParse(t *testing.T) {
	t.Parallel()
	e, err := ParseMap(map[string]any{"status": "active", "n": map[string]any{"$gte": 2.0}})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := Format(e)
	got := fmt.Sprint(m)
	if want := "map[n:map[$gte:2] status:map[$eq:active]]"; got != want {
		t.Fatalf("ParseMap rendered %s, want %s", got, want)
	}
	if _, err := ParseMap(map[string]any{"$where": "1"}); err == nil || err.Error() != `unsupported operator "$where"` {
		t.Fatalf("ParseMap($where) error = %v", err)
	}
	for v, want := range map[any]string{
		5:           "unsupported value type int (filters hold JSON values)",
		math.NaN():  "number NaN is not valid JSON",
		math.Inf(1): "number +Inf is not valid JSON",
	} {
		if _, err := ParseMap(map[string]any{"a": map[string]any{"$in": []any{v}}}); err == nil || err.Error() != want {
			t.Errorf("ParseMap(%v) error = %v, want %q", v, err, want)
		}
	}
}
