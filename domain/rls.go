package domain

import (
	"errors"
	"fmt"
)

// AccessError is a refusal by the access rules (RLS, keys). Title is the
// short text the seeds document; Detail is the sentence urBackend sends.
type AccessError struct {
	Status int // 401 or 403
	Title  string
	Detail string
}

func (e *AccessError) Error() string { return e.Title }

// The access refusals, with the texts of urBackend's RLS table.
var (
	ErrWriteBlocked       = &AccessError{403, "Write blocked for publishable key", "Enable RLS for this collection to allow publishable-key writes."}
	ErrAuthRequired       = &AccessError{401, "Authentication required", "Provide a valid user Bearer token."}
	ErrOwnerMismatch      = &AccessError{403, "RLS owner mismatch", "You can only modify your own document."}
	ErrInsertDenied       = &AccessError{403, "Insert denied", "RLS ownerField '_id' is not valid for insert ownership checks."}
	ErrOwnerImmutable     = &AccessError{403, "Owner field immutable", "The owner field cannot be changed under RLS."}
	ErrUsersCollection    = &AccessError{403, "use the auth API", "The users collection is managed by the auth API."}
	ErrCollectionNotFound = errors.New("Collection not found")
)

// Access is what the rules need to know about a caller.
type Access struct {
	Privileged bool   // secret key or admin: bypasses RLS
	UserID     string // authenticated end user, if any
}

// CanWrite applies the write-side checks that do not depend on the document.
func (c *Collection) CanWrite(a Access) error {
	if a.Privileged {
		return nil
	}
	if !c.RLS.Enabled {
		return ErrWriteBlocked
	}
	if a.UserID == "" {
		return ErrAuthRequired
	}
	return nil
}

// AuthorizeInsert checks and completes a new document under RLS: the owner
// field is filled with the caller's id when absent, and must be the caller's
// id when present.
func (c *Collection) AuthorizeInsert(a Access, body map[string]any) error {
	if err := c.CanWrite(a); err != nil || a.Privileged {
		return err
	}
	owner := c.RLS.Owner()
	if owner == "_id" {
		return ErrInsertDenied
	}
	switch v := body[owner].(type) {
	case nil:
		body[owner] = a.UserID
	case string:
		if v == "" {
			body[owner] = a.UserID
		} else if v != a.UserID {
			return &AccessError{403, ErrOwnerMismatch.Title, fmt.Sprintf("Item must have %s equal to your user id", owner)}
		}
	default:
		return &AccessError{403, ErrOwnerMismatch.Title, fmt.Sprintf("Item must have %s equal to your user id", owner)}
	}
	return nil
}

// AuthorizeChange checks an update or delete of current (the stored
// document) with body (nil for a delete) under RLS.
func (c *Collection) AuthorizeChange(a Access, current, body map[string]any) error {
	if err := c.CanWrite(a); err != nil || a.Privileged {
		return err
	}
	owner := c.RLS.Owner()
	if owner == "_id" {
		if current["_id"] != a.UserID {
			return ErrOwnerMismatch
		}
		return nil
	}
	if body != nil {
		if v, ok := body[owner]; ok && v != current[owner] {
			return &AccessError{403, ErrOwnerImmutable.Title, owner + " cannot be changed under RLS."}
		}
	}
	if cur, _ := current[owner].(string); cur == "" || cur != a.UserID {
		return ErrOwnerMismatch
	}
	return nil
}

// ReadScope says which documents a caller may read.
type ReadScope struct {
	All bool // no restriction
	// Otherwise only documents whose OwnerField equals UserID, or whose
	// PublicField is true (when set).
	OwnerField  string
	UserID      string
	PublicField string
}

// ReadScope applies the read-side rules.
func (c *Collection) ReadScope(a Access) (ReadScope, error) {
	if a.Privileged || !c.RLS.Enabled || c.RLS.Mode != RLSPrivate {
		return ReadScope{All: true}, nil
	}
	if a.UserID == "" {
		return ReadScope{}, &AccessError{401, ErrAuthRequired.Title, "Provide a valid user Bearer token for private reads."}
	}
	return ReadScope{OwnerField: c.RLS.Owner(), UserID: a.UserID, PublicField: c.RLS.PublicReadField}, nil
}

// Allows reports whether the scope lets the caller read doc.
func (s ReadScope) Allows(doc map[string]any) bool {
	if s.All {
		return true
	}
	if v, ok := doc[s.OwnerField].(string); ok && v == s.UserID {
		return true
	}
	if s.PublicField != "" {
		if b, ok := doc[s.PublicField].(bool); ok && b {
			return true
		}
	}
	return false
}
