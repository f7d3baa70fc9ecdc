// Package docs holds the document rules both readstore adapters enforce on
// Put, so that a document one store accepts the other accepts too, and every
// stored document reads back exactly as written.
package docs

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/eventbase/eventbase/readstore"
)

// MaxDepth bounds document nesting (MongoDB allows 100 levels of BSON).
const MaxDepth = 100

// Validate checks doc and returns its _id. Values must be what
// encoding/json decodes into any (nil, bool, finite float64, valid UTF-8
// string, []any, map[string]any): other Go types would not read back as
// written. Field names must be valid UTF-8 and free of NUL, of '.' and of a
// leading '$', since query paths could never address them and MongoDB
// reserves them.
func Validate(doc readstore.Doc) (string, error) {
	id, ok := doc["_id"].(string)
	if !ok || id == "" {
		return "", fmt.Errorf("readstore: document needs a non-empty string _id, got %#v", doc["_id"])
	}
	if err := check(doc, 1); err != nil {
		return "", fmt.Errorf("readstore: document %q: %w", id, err)
	}
	return id, nil
}

func check(v any, depth int) error {
	switch x := v.(type) {
	case nil, bool:
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("number %v is not valid JSON", x)
		}
	case string:
		if !utf8.ValidString(x) {
			return fmt.Errorf("string %q is not valid UTF-8", x)
		}
	case []any:
		if depth > MaxDepth {
			return fmt.Errorf("nested deeper than %d levels", MaxDepth)
		}
		for _, el := range x {
			if err := check(el, depth+1); err != nil {
				return err
			}
		}
	case map[string]any:
		if depth > MaxDepth {
			return fmt.Errorf("nested deeper than %d levels", MaxDepth)
		}
		for k, el := range x {
			if k == "" || k[0] == '$' || strings.ContainsAny(k, ".\x00") || !utf8.ValidString(k) {
				return fmt.Errorf("invalid field name %q", k)
			}
			if err := check(el, depth+1); err != nil {
				return fmt.Errorf("field %q: %w", k, err)
			}
		}
	default:
		return fmt.Errorf("unsupported value type %T (documents hold JSON values: use float64 for numbers)", v)
	}
	return nil
}
