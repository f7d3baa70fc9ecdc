package mongo

import (
	"encoding/json"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// roundTrip converts a JSON payload to the stored BSON element and back,
// reporting whether it was stored as BSON (rather than verbatim).
func roundTrip(t testing.TB, payload string) (string, bool) {
	t.Helper()
	idx, doc := bsoncore.AppendDocumentStart(nil)
	doc = appendPayloadElement(doc, "payload", "payload_json", []byte(payload))
	doc, err := bsoncore.AppendDocumentEnd(doc, idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := bsoncore.Document(doc).Validate(); err != nil {
		t.Fatalf("%q: invalid BSON: %v", payload, err)
	}
	if v, err := bsoncore.Document(doc).LookupErr("payload"); err == nil {
		out, err := payloadJSON(v)
		if err != nil {
			t.Fatalf("%q: %v", payload, err)
		}
		return string(out), true
	}
	return bsoncore.Document(doc).Lookup("payload_json").StringValue(), false
}

func TestPayloadConversion(t *testing.T) {
	cases := []struct {
		in, want string
		bson     bool
	}{
		{`{}`, `{}`, true},
		{` { "b" : 1 , "a" : [ ] } `, `{"b":1,"a":[]}`, true},
		{`{"$date": {"$numberLong": "1"}}`, `{"$date":{"$numberLong":"1"}}`, true},
		{`{"i": 2147483648, "j": -2147483648, "k": 9223372036854775807}`, `{"i":2147483648,"j":-2147483648,"k":9223372036854775807}`, true},
		{`{"big": 9223372036854775808}`, `{"big":9223372036854775808}`, true},
		{`[0.1, 1e21, 1e-7, 12.50, -0, 1E400]`, `[0.1,1e+21,1e-7,12.5,0,1E+400]`, true},
		{`"a\u0000b\ud83d\ude00\"\\/"`, `"a\u0000b😀\"\\/"`, true},
		{`"\u2028<>&"`, "\"\u2028<>&\"", true},
		{`[true, false, null]`, `[true,false,null]`, true},
		{`{"k\u0000": 1}`, `{"k\u0000": 1}`, false},
		{`[1.00000000000000000000000000000000000001]`, `[1.00000000000000000000000000000000000001]`, false},
		{strings.Repeat("[", 100) + strings.Repeat("]", 100), strings.Repeat("[", 100) + strings.Repeat("]", 100), false},
	}
	for _, c := range cases {
		got, asBSON := roundTrip(t, c.in)
		if got != c.want || asBSON != c.bson {
			t.Errorf("%s: got %s (as BSON %v), want %s (as BSON %v)", c.in, got, asBSON, c.want, c.bson)
		}
	}
}

// FuzzPayloadRoundTrip: every valid JSON payload reads back as the same
// JSON value, numbers exactly.
func FuzzPayloadRoundTrip(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2.5,"x",null,true]}`, `{"$oid":"1"}`, `[1e400]`, `"\ud800"`, `-0.0e-0`, `{"a":{"b":{"c":[]}}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		// Huge exponents make the exact comparison below (not the code
		// under test) slow.
		if !json.Valid([]byte(in)) || hugeExponent.MatchString(in) {
			return
		}
		out, _ := roundTrip(t, in)
		if !equivalent(t, in, out) {
			t.Fatalf("wrote %s, read %s", in, out)
		}
	})
}

var hugeExponent = regexp.MustCompile(`[eE][-+]?0*[0-9]{5,}`)

func equivalent(t *testing.T, a, b string) bool {
	decode := func(s string) any {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return v
	}
	return same(decode(a), decode(b))
}

func same(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, v := range a {
			if w, ok := bm[k]; !ok || !same(v, w) {
				return false
			}
		}
		return true
	case []any:
		ba, ok := b.([]any)
		if !ok || len(a) != len(ba) {
			return false
		}
		for i := range a {
			if !same(a[i], ba[i]) {
				return false
			}
		}
		return true
	case json.Number:
		bn, ok := b.(json.Number)
		if !ok {
			return false
		}
		x, ok1 := new(big.Rat).SetString(string(a))
		y, ok2 := new(big.Rat).SetString(string(bn))
		return ok1 && ok2 && x.Cmp(y) == 0
	default:
		return a == b
	}
}
