package domain

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzValidateBody feeds arbitrary JSON bodies to the validator: it must
// never panic, and anything it accepts must have only safe field names and
// bounded depth.
func FuzzValidateBody(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"a":1}`, `{"$set":1}`, `{"a.b":1}`, `{"a":{"b":{"c":[1,{"d":2}]}}}`,
		"{\"a\\u0000\":1}", `{"a":[[[[[[1]]]]]]}`, `{"_id":"0123456789abcdef01234567","createdAt":"x"}`,
		strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var body map[string]any
		if json.Unmarshal(raw, &body) != nil || body == nil {
			return
		}
		if err := ValidateBody(body); err != nil {
			return
		}
		var walk func(v any, depth int)
		walk = func(v any, depth int) {
			if depth > MaxDepth {
				t.Fatalf("accepted a body deeper than %d: %s", MaxDepth, raw)
			}
			switch x := v.(type) {
			case map[string]any:
				for k, c := range x {
					if k == "" || strings.HasPrefix(k, "$") || strings.ContainsAny(k, ".\x00") {
						t.Fatalf("accepted field name %q", k)
					}
					walk(c, depth+1)
				}
			case []any:
				for _, c := range x {
					walk(c, depth+1)
				}
			}
		}
		walk(body, 1)
	})
}
