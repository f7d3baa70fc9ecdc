package docs

import (
	"math"
	"strings"
	"testing"

	"github.com/eventbase/eventbase/readstore"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	deep := any(1.0)
	for range MaxDepth + 1 {
		deep = []any{deep}
	}
	tests := []struct {
		doc  readstore.Doc
		want string // "" for valid
	}{
		{readstore.Doc{"_id": "a", "n": 1.5, "s": "é", "b": true, "z": nil, "l": []any{map[string]any{"k": "v"}}}, ""},
		{readstore.Doc{"n": 1.0}, `readstore: document needs a non-empty string _id, got <nil>`},
		{readstore.Doc{"_id": 7.0}, `readstore: document needs a non-empty string _id, got 7`},
		{readstore.Doc{"_id": ""}, `readstore: document needs a non-empty string _id, got ""`},
		{readstore.Doc{"_id": "a", "n": 1}, `readstore: document "a": field "n": unsupported value type int (documents hold JSON values: use float64 for numbers)`},
		{readstore.Doc{"_id": "a", "n": math.NaN()}, `readstore: document "a": field "n": number NaN is not valid JSON`},
		{readstore.Doc{"_id": "a", "s": "\xff"}, `readstore: document "a": field "s": string "\xff" is not valid UTF-8`},
		{readstore.Doc{"_id": "a", "$set": 1.0}, `readstore: document "a": invalid field name "$set"`},
		{readstore.Doc{"_id": "a", "o": map[string]any{"x.y": 1.0}}, `readstore: document "a": field "o": invalid field name "x.y"`},
		{readstore.Doc{"_id": "a", "o": map[string]any{"": 1.0}}, `readstore: document "a": field "o": invalid field name ""`},
		{readstore.Doc{"_id": "a", "d": deep}, `nested deeper than 100 levels`},
	}
	for _, tt := range tests {
		id, err := Validate(tt.doc)
		switch {
		case tt.want == "" && (err != nil || id != tt.doc["_id"]):
			t.Errorf("Validate(%v) = %q, %v", tt.doc, id, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Validate(%v) error = %v, want %q", tt.doc, err, tt.want)
		}
	}
}
