package domain

import "errors"

// Rule violations. Transport maps each to a status and message in one place.
var (
	ErrInvalid       = errors.New("invalid")
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	ErrStaleVersion  = errors.New("version mismatch")
)

// ValidationError is a bad input with a message for the client.
type ValidationError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string { return e.Message }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Invalid returns a *ValidationError.
func Invalid(field, msg string) error { return &ValidationError{Field: field, Message: msg} }

// UniqueError is a duplicate value of a unique field.
type UniqueError struct{ Field string }

func (e *UniqueError) Error() string {
	return "Duplicate value for unique field '" + e.Field + "'"
}
