package sqlite

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/eventbase/eventbase/readstore/internal/docs"
)

// FuzzJSONRoundTrip: any document this store accepts is encoded as standard
// JSON and decoded back to exactly the same values.
func FuzzJSONRoundTrip(f *testing.F) {
	for _, s := range []string{
		`{"_id":"x"}`,
		`{"_id":"x","s":"a\"b\\c\n\t\u0001\u001f<>&\u2028é😀","n":[0.1,-0,1e21,1e-7,123456789012345678901234567890,5e-324],"o":{"":{}}}`,
		`{"_id":"x","a":[[],[{}],{"b":[null,true,false]}],"z":"\ud83d\ude00 \ud800"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var doc map[string]any
		if json.Unmarshal([]byte(s), &doc) != nil {
			return
		}
		if _, err := docs.Validate(doc); err != nil {
			return
		}
		var enc encoder
		text := enc.encode(doc)
		var std map[string]any
		if err := json.Unmarshal(text, &std); err != nil || !reflect.DeepEqual(std, doc) {
			t.Fatalf("encoding/json reads %s as %v (%v), want %v", text, std, err, doc)
		}
		var dec decoder
		got, err := dec.document(text)
		if err != nil || !reflect.DeepEqual(got, doc) {
			t.Fatalf("decode(%s) = %v, %v; want %v", text, got, err, doc)
		}
		// Escapes written by other JSON encoders decode the same way.
		std2, _ := json.Marshal(doc)
		if got, err := dec.document(std2); err != nil || !reflect.DeepEqual(got, doc) {
			t.Fatalf("decode(%s) = %v, %v; want %v", std2, got, err, doc)
		}
	})
}

func TestDecoderRejectsMalformed(t *testing.T) {
	t.Parallel()
	for _, s := range []string{``, `[]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":tru}`, `{"a":1} x`, `{"a":"x}`, `{"a":[1,]}`, `{"a":--1}`} {
		var d decoder
		if _, err := d.document([]byte(s)); err == nil {
			t.Errorf("decode(%q) succeeded", s)
		}
	}
}
