package domain

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"time"
)

// Limits on documents.
const (
	MaxDepth = 32
)

// Server-managed document fields.
const (
	FieldID        = "_id"
	FieldCreatedAt = "createdAt"
	FieldUpdatedAt = "updatedAt"
	FieldVersion   = "_version"
)

var docID = regexp.MustCompile(`^[0-9a-f]{24}$`)

// ValidDocID reports whether id has the 24-hex shape of document ids.
func ValidDocID(id string) bool { return docID.MatchString(id) }

// DocumentStream is the stream of one document.
func DocumentStream(collection, id string) string { return "doc-" + collection + "-" + id }

// Document is the document aggregate.
type Document struct {
	Collection string
	ID         string
	Doc        map[string]any // nil when deleted or never created
	Version    int64
}

// Exists reports whether the document is live.
func (d *Document) Exists() bool { return d.Doc != nil }

// DocumentPayload is the payload of document events: the change (Set for a
// merge, the whole body for a replace) and the resulting document, so a
// projection is a plain upsert and history needs no replay logic.
type DocumentPayload struct {
	Collection string         `json:"collection"`
	ID         string         `json:"id"`
	Op         string         `json:"op,omitempty"` // "merge" or "replace" for updates
	Changes    map[string]any `json:"changes,omitempty"`
	Doc        map[string]any `json:"doc"`
}

// ValidateBody checks a client's document body: field names, nesting depth.
func ValidateBody(body map[string]any) error {
	return validateValue(body, 1, "")
}

func validateValue(v any, depth int, path string) error {
	if depth > MaxDepth {
		return Invalid(path, fmt.Sprintf("document nesting is deeper than %d levels", MaxDepth))
	}
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if err := ValidateFieldName(k); err != nil {
				return Invalid(k, err.Error())
			}
			for i := 0; i < len(k); i++ {
				if k[i] == '.' {
					return Invalid(k, fmt.Sprintf("field name %q contains '.'", k))
				}
			}
			if err := validateValue(x, depth+1, k); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range t {
			if err := validateValue(x, depth+1, path); err != nil {
				return err
			}
		}
	}
	return nil
}

// userFields returns body without the server-managed fields.
func userFields(body map[string]any) map[string]any {
	out := make(map[string]any, len(body))
	for k, v := range body {
		switch k {
		case FieldID, FieldCreatedAt, FieldUpdatedAt, FieldVersion:
			continue
		}
		out[k] = v
	}
	return out
}

// CheckSchema validates doc (the full new user state) against the declared
// fields: types, required fields. partial skips required checks for fields
// absent from doc.
func (c *Collection) CheckSchema(doc map[string]any) error {
	for _, f := range c.Fields {
		v, ok := doc[f.Name]
		if !ok || v == nil {
			if f.Required {
				return Invalid(f.Name, fmt.Sprintf("Field '%s' is required.", f.Name))
			}
			continue
		}
		if err := checkType(f, v); err != nil {
			return err
		}
	}
	return nil
}

func checkType(f Field, v any) error {
	bad := func(what string) error { return Invalid(f.Name, fmt.Sprintf("Field '%s' must be %s.", f.Name, what)) }
	switch f.Type {
	case "string":
		if _, ok := v.(string); !ok {
			return bad("a string")
		}
	case "number":
		if _, ok := v.(float64); !ok {
			return bad("a number")
		}
	case "integer":
		n, ok := v.(float64)
		if !ok || n != math.Trunc(n) || math.Abs(n) > 1<<53 {
			return bad("an integer")
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad("a boolean")
		}
	case "object":
		if _, ok := v.(map[string]any); !ok {
			return bad("an object")
		}
	case "array":
		if _, ok := v.([]any); !ok {
			return bad("an array")
		}
	case "date":
		s, ok := v.(string)
		if !ok {
			return bad("a date (RFC 3339 string)")
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			if _, err := time.Parse("2006-01-02", s); err != nil {
				return bad("a date (RFC 3339 string)")
			}
		}
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// Create decides a new document. body has been validated by ValidateBody and
// authorised (owner filled in) by AuthorizeInsert. prev is the document's
// stream so far: empty for a new id, or a deleted document whose id is
// reused (its history continues).
func (c *Collection) Create(prev *Document, body map[string]any, now time.Time) ([]Change, map[string]any, error) {
	if prev.Exists() {
		return nil, nil, &UniqueError{Field: FieldID}
	}
	id := prev.ID
	doc := userFields(body)
	if err := c.CheckSchema(doc); err != nil {
		return nil, nil, err
	}
	doc[FieldID] = id
	doc[FieldCreatedAt] = stamp(now)
	doc[FieldUpdatedAt] = stamp(now)
	doc[FieldVersion] = float64(prev.Version + 1)
	return []Change{{EventDocumentCreated, DocumentPayload{Collection: c.Name, ID: id, Doc: doc}}}, doc, nil
}

// Update decides a merge (PATCH) or replace (PUT) of an existing document.
func (c *Collection) Update(d *Document, body map[string]any, replace bool, now time.Time) ([]Change, map[string]any, error) {
	if !d.Exists() {
		return nil, nil, ErrNotFound
	}
	changes := userFields(body)
	next := make(map[string]any, len(d.Doc)+len(changes))
	op := "replace"
	if !replace {
		op = "merge"
		for k, v := range d.Doc {
			next[k] = v
		}
	}
	for k, v := range changes {
		next[k] = v
	}
	if err := c.CheckSchema(userFields(next)); err != nil {
		return nil, nil, err
	}
	next[FieldID] = d.ID
	next[FieldCreatedAt] = d.Doc[FieldCreatedAt]
	next[FieldUpdatedAt] = stamp(now)
	next[FieldVersion] = float64(d.Version + 1)
	return []Change{{EventDocumentUpdated, DocumentPayload{Collection: c.Name, ID: d.ID, Op: op, Changes: changes, Doc: next}}}, next, nil
}

// Delete decides deleting a document.
func (c *Collection) Delete(d *Document) ([]Change, error) {
	if !d.Exists() {
		return nil, ErrNotFound
	}
	return []Change{{EventDocumentDeleted, DocumentPayload{Collection: c.Name, ID: d.ID, Doc: d.Doc}}}, nil
}

// Apply evolves the document by one event.
func (d *Document) Apply(typ string, payload json.RawMessage) error {
	var p DocumentPayload
	switch typ {
	case EventDocumentCreated, EventDocumentUpdated:
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		d.Doc = p.Doc
	case EventDocumentDeleted:
		d.Doc = nil
	}
	d.Version++
	return nil
}
