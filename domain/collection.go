package domain

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Field types of a collection schema.
var FieldTypes = map[string]bool{"string": true, "number": true, "integer": true, "boolean": true, "object": true, "array": true, "date": true}

// RLS modes. owner-write-only is urBackend's legacy name, read as public-read.
const (
	RLSPublicRead     = "public-read"
	RLSPrivate        = "private"
	RLSOwnerWriteOnly = "owner-write-only"
)

// Field is one declared field of a collection.
type Field struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required,omitempty"`
	Unique   bool   `json:"unique,omitempty"`
}

// RLS is a collection's row-level security.
type RLS struct {
	Enabled    bool   `json:"enabled"`
	Mode       string `json:"mode"`
	OwnerField string `json:"owner_field"`
	// PublicReadField, when set, makes documents whose field is true
	// readable by every authenticated user in private mode (Butterbase's
	// public_read_column).
	PublicReadField string `json:"public_read_field,omitempty"`
}

// Collection is the collection aggregate: its schema and RLS.
type Collection struct {
	Name    string  `json:"name"`
	Fields  []Field `json:"fields"`
	RLS     RLS     `json:"rls"`
	Version int64   `json:"-"`
}

// CollectionStream is the stream of a collection's definition.
func CollectionStream(name string) string { return "collection-" + name }

var collectionName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// ValidateCollectionName checks a collection name from a path.
func ValidateCollectionName(name string) error {
	if !collectionName.MatchString(name) {
		return Invalid("collection", "collection names start with a letter and use only letters, digits, '_' and '-' (at most 64)")
	}
	if strings.EqualFold(name, "users") {
		return ErrUsersCollection
	}
	return nil
}

// Exists reports whether the collection has been defined or written.
func (c *Collection) Exists() bool { return c.Version > 0 }

// Field returns the declared field, if any.
func (c *Collection) Field(name string) (Field, bool) {
	for _, f := range c.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// UniqueFields lists the names of unique fields.
func (c *Collection) UniqueFields() []string {
	var out []string
	for _, f := range c.Fields {
		if f.Unique {
			out = append(out, f.Name)
		}
	}
	return out
}

// OwnerField returns the RLS owner field, defaulting to userId.
func (r RLS) Owner() string {
	if r.OwnerField == "" {
		return "userId"
	}
	return r.OwnerField
}

// Define decides a (re)definition of the collection. Nil rls keeps the
// current RLS settings.
func (c *Collection) Define(name string, fields []Field, rls *RLS) ([]Change, error) {
	seen := map[string]bool{}
	for i, f := range fields {
		if err := ValidateFieldName(f.Name); err != nil {
			return nil, Invalid("fields", fmt.Sprintf("fields[%d].name: %v", i, err))
		}
		if seen[f.Name] {
			return nil, Invalid("fields", fmt.Sprintf("field %q is declared twice", f.Name))
		}
		seen[f.Name] = true
		t := strings.ToLower(f.Type)
		if !FieldTypes[t] {
			return nil, Invalid("fields", fmt.Sprintf("field %q has unknown type %q (use string, number, integer, boolean, object, array or date)", f.Name, f.Type))
		}
		if f.Unique && (t == "object" || t == "array") {
			return nil, Invalid("fields", fmt.Sprintf("field %q: unique is only supported on string, number, integer, boolean and date fields", f.Name))
		}
		if strings.Contains(f.Name, ".") {
			return nil, Invalid("fields", fmt.Sprintf("field %q: nested paths cannot be declared", f.Name))
		}
		fields[i].Type = t
	}
	next := c.RLS
	if rls != nil {
		next = *rls
	}
	if next.Mode == "" {
		next.Mode = RLSPublicRead
	}
	if next.Mode != RLSPublicRead && next.Mode != RLSPrivate && next.Mode != RLSOwnerWriteOnly {
		return nil, Invalid("rls.mode", "Unsupported RLS mode. Allowed: public-read, private, owner-write-only (legacy).")
	}
	if next.OwnerField == "" {
		next.OwnerField = "userId"
	}
	if next.OwnerField != "_id" {
		if err := ValidateFieldName(next.OwnerField); err != nil {
			return nil, Invalid("rls.owner_field", "rls.owner_field: "+err.Error())
		}
	}
	if fields == nil {
		fields = []Field{}
	}
	return []Change{{EventCollectionDefined, Collection{Name: name, Fields: fields, RLS: next}}}, nil
}

// Apply evolves the collection by one event.
func (c *Collection) Apply(typ string, payload json.RawMessage) error {
	if typ == EventCollectionDefined {
		var def Collection
		if err := json.Unmarshal(payload, &def); err != nil {
			return err
		}
		c.Name, c.Fields, c.RLS = def.Name, def.Fields, def.RLS
	}
	c.Version++
	return nil
}

// ValidateFieldName rejects names that MongoDB or the query language would
// read as operators or paths.
func ValidateFieldName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("field names cannot be empty")
	case len(name) > 256:
		return fmt.Errorf("field name is longer than 256 characters")
	case strings.HasPrefix(name, "$"):
		return fmt.Errorf("field name %q starts with '$'", name)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("field name contains NUL")
	}
	return nil
}
