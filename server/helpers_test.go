package server_test

import (
	"encoding/json"
	"testing"
)

// decodeData returns the "data" array of a native list answer.
func decodeData(t *testing.T, raw []byte) []map[string]any {
	t.Helper()
	var body struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("list body %s: %v", raw, err)
	}
	return body.Data
}

// decodeList decodes a top-level JSON array.
func decodeList(t *testing.T, raw []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("array body %s: %v", raw, err)
	}
	return out
}
