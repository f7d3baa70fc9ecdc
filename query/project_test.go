package query

import (
	"encoding/json"
	"testing"
)

func TestProject(t *testing.T) {
	t.Parallel()
	const doc = `{"_id":"1","a":{"b":1,"c":2},"d":[{"b":1,"c":1},{"c":2},5,[{"b":3},7]],"e":5,"f":"x"}`
	tests := []struct {
		fields string
		want   string
	}{
		{"a.b", `{"_id":"1","a":{"b":1}}`},
		{"d.b", `{"_id":"1","d":[{"b":1},{},[{"b":3}]]}`},
		{"e.x", `{"_id":"1"}`},
		{"a.x", `{"_id":"1","a":{}}`},
		{"f,a", `{"_id":"1","a":{"b":1,"c":2},"f":"x"}`},
		{"zz", `{"_id":"1"}`},
		{"_id", `{"_id":"1"}`},
		{"a.b,a.c,e", `{"_id":"1","a":{"b":1,"c":2},"e":5}`},
	}
	var d map[string]any
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		fields, err := ParseFields(tt.fields)
		if err != nil {
			t.Fatalf("ParseFields(%q): %v", tt.fields, err)
		}
		got, _ := json.Marshal(Project(d, fields))
		if string(got) != tt.want {
			t.Errorf("Project(%q) = %s, want %s", tt.fields, got, tt.want)
		}
	}
}

func TestParseFieldsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"a,a.b", `projection fields "a" and "a.b" overlap`},
		{"a,,b", `empty field in projection`},
		{"a.$", `invalid field name "a.$": segment starts with $`},
	}
	for _, tt := range tests {
		if _, err := ParseFields(tt.in); err == nil || err.Error() != tt.want {
			t.Errorf("ParseFields(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
	many := make([]string, MaxFields+1)
	for i := range many {
		many[i] = string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	if err := CheckFields(many); err == nil || err.Error() != "too many fields (max 100)" {
		t.Errorf("CheckFields(101 fields) error = %v", err)
	}
	if f, err := ParseFields(" "); f != nil || err != nil {
		t.Errorf("ParseFields(blank) = %v, %v; want nil, nil", f, err)
	}
}
