package domain

import (
	"net/mail"
	"strings"
)

// AdminCreatedPayload is the payload of admin_created and admin_password_reset.
type AdminCreatedPayload struct {
	Email        string `json:"email"`
	PasswordHash string `json:"password_hash"`
}

// NormalizeEmail trims and lower-cases an e-mail address and checks its shape.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" {
		return "", Invalid("email", "email is required")
	}
	if len(e) > 254 {
		return "", Invalid("email", "email is too long")
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || !strings.Contains(e[strings.LastIndexByte(e, '@')+1:], ".") {
		return "", Invalid("email", "email is not a valid address")
	}
	return e, nil
}

// AdminStream is the stream of the admin with that normalised e-mail.
func AdminStream(email string) string { return "admin-" + email }

// CreateAdmin decides creating an admin, or resetting its password when the
// stream already exists (version > 0).
func CreateAdmin(version int64, email, passwordHash string) ([]Change, error) {
	if passwordHash == "" {
		return nil, Invalid("password", "password is required")
	}
	typ := EventAdminCreated
	if version > 0 {
		typ = EventAdminPasswordReset
	}
	return []Change{{typ, AdminCreatedPayload{Email: email, PasswordHash: passwordHash}}}, nil
}
