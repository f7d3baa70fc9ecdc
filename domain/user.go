package domain

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The User aggregate is an app's end user: credentials, verification state,
// outstanding one-time codes and refresh-token families. Its stream is
// UserStream(id); the per-app uniqueness of its e-mail is a claim stream
// (see commands). Secrets enter as hashes only: the password as argon2id,
// refresh tokens as SHA-256, codes as a keyed HMAC (the sealed copy of a
// code exists only so the mailer can send it).

// UserStream is the stream id of a user inside its app.
func UserStream(id string) string { return "user-" + id }

// Sign-in providers of a user.
const (
	ProviderEmail     = "email"
	ProviderMagicLink = "magic_link"
)

// One-time code purposes.
const (
	CodeEmailVerify   = "email_verify"
	CodeMagicLink     = "magic_link"
	CodePasswordReset = "password_reset"
)

// CodeTTL is how long a code of the purpose is valid.
func CodeTTL(purpose string) time.Duration {
	switch purpose {
	case CodeEmailVerify:
		return 24 * time.Hour
	case CodeMagicLink:
		return 15 * time.Minute
	case CodePasswordReset:
		return time.Hour
	}
	return 0
}

// Limits of the user aggregate.
const (
	// MaxCodeAttempts wrong codes of one purpose kill the outstanding codes
	// of that purpose: a 6-digit code cannot be brute-forced from many IPs.
	MaxCodeAttempts = 5
	// NewUserWindow: a magic-link login this soon after creation counts as
	// the user's first (isNewUser).
	NewUserWindow = 2 * time.Minute
	// MaxRotatedHashes bounds the rotated refresh-token hashes kept per
	// family for reuse detection.
	MaxRotatedHashes = 64
	// MinPasswordLen and MaxPasswordLen bound passwords.
	MinPasswordLen = 8
	MaxPasswordLen = 256
	// MaxDisplayNameLen bounds display names.
	MaxDisplayNameLen = 100
	// codeRetention is how long after expiry a code is remembered, so that
	// a late attempt reads "expired" rather than "invalid".
	codeRetention = 24 * time.Hour
)

// Auth rule violations. Transport maps them to status and message.
var (
	ErrInvalidCredentials  = errors.New("Invalid credentials")
	ErrEmailTaken          = errors.New("User already exists")
	ErrUserNotFound        = errors.New("User not found")
	ErrInvalidRefreshToken = errors.New("Invalid or expired refresh token")
	// ErrRefreshTokenReused is also an ErrInvalidRefreshToken.
	ErrRefreshTokenReused = fmt.Errorf("%w (reused: family revoked)", ErrInvalidRefreshToken)
)

// PasswordPolicyMessage is Butterbase's text for a weak password.
const PasswordPolicyMessage = "Password does not meet requirements. Must be at least 8 characters and include: uppercase letter, lowercase letter, number, and special character."

// PasswordPolicyError lists what a password lacks.
type PasswordPolicyError struct{ Missing []string }

func (e *PasswordPolicyError) Error() string { return PasswordPolicyMessage }

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *PasswordPolicyError) Unwrap() error { return ErrInvalid }

// CheckPasswordPolicy requires at least 8 characters with an upper-case
// letter, a lower-case letter, a digit and a special character.
func CheckPasswordPolicy(pw string) error {
	if len(pw) > MaxPasswordLen {
		return Invalid("password", fmt.Sprintf("Password must be at most %d characters", MaxPasswordLen))
	}
	var upper, lower, digit, special bool
	n := 0
	for _, r := range pw {
		n++
		switch {
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= '0' && r <= '9':
			digit = true
		default: // anything but [A-Za-z0-9], as Butterbase's policy
			special = true
		}
	}
	var missing []string
	if n < MinPasswordLen {
		missing = append(missing, "Password must be at least 8 characters")
	}
	if !upper {
		missing = append(missing, "Password must contain at least one uppercase letter")
	}
	if !lower {
		missing = append(missing, "Password must contain at least one lowercase letter")
	}
	if !digit {
		missing = append(missing, "Password must contain at least one number")
	}
	if !special {
		missing = append(missing, "Password must contain at least one special character")
	}
	if missing != nil {
		return &PasswordPolicyError{Missing: missing}
	}
	return nil
}

// Reasons a one-time code is refused.
const (
	CodeInvalid = "invalid"
	CodeUsed    = "used"
	CodeExpired = "expired"
)

// CodeError is a refused one-time code; its message is the documented text
// for the purpose (e.g. "Sign-in code already used").
type CodeError struct{ Purpose, Reason string }

var codeMessages = map[string][3]string{
	CodeMagicLink:     {"Invalid sign-in code", "Sign-in code already used", "Sign-in code expired"},
	CodeEmailVerify:   {"Invalid verification code", "Verification code already used", "Verification code expired"},
	CodePasswordReset: {"Invalid reset code", "Reset code already used", "Reset code expired"},
}

func (e *CodeError) Error() string {
	m := codeMessages[e.Purpose]
	switch e.Reason {
	case CodeUsed:
		return m[1]
	case CodeExpired:
		return m[2]
	}
	return m[0]
}

// SessionPayload starts or continues a refresh-token family.
type SessionPayload struct {
	FamilyID  string    `json:"family_id"`
	TokenHash string    `json:"token_hash"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SignupPayload is the payload of signup.
type SignupPayload struct {
	Email        string          `json:"email"`
	PasswordHash string          `json:"password_hash,omitempty"`
	DisplayName  string          `json:"display_name,omitempty"`
	Provider     string          `json:"provider"`
	Session      *SessionPayload `json:"session,omitempty"`
}

// LoginPayload is the payload of login and magic_link_login.
type LoginPayload struct {
	Provider  string         `json:"provider"`
	Session   SessionPayload `json:"session"`
	CodeHash  string         `json:"code_hash,omitempty"`
	IsNewUser bool           `json:"is_new_user,omitempty"`
}

// LoginFailedPayload is the payload of login_failed.
type LoginFailedPayload struct {
	Reason string `json:"reason"` // user_not_found, invalid_password, no_password
	Email  string `json:"email,omitempty"`
}

// CodeIssuedPayload is the payload of email_verification_sent,
// magic_link_requested and password_reset_requested. CodeSealed is the code
// encrypted under the server's master key, for the mailer only; audit output
// redacts it.
type CodeIssuedPayload struct {
	Purpose    string    `json:"purpose"`
	Email      string    `json:"email"`
	CodeHash   string    `json:"code_hash"`
	CodeSealed string    `json:"code_sealed"`
	ExpiresAt  time.Time `json:"expires_at"`
	IsNewUser  bool      `json:"is_new_user,omitempty"`
}

// CodeRejectedPayload is the payload of code_rejected.
type CodeRejectedPayload struct {
	Purpose string `json:"purpose"`
}

// EmailVerifiedPayload is the payload of email_verified.
type EmailVerifiedPayload struct {
	CodeHash string `json:"code_hash"`
}

// PasswordResetPayload is the payload of password_reset. It ends every
// session of the user.
type PasswordResetPayload struct {
	CodeHash     string `json:"code_hash"`
	PasswordHash string `json:"password_hash"`
}

// TokenRefreshedPayload is the payload of token_refreshed: the family's
// current token is replaced.
type TokenRefreshedPayload struct {
	Session SessionPayload `json:"session"`
}

// FamilyPayload is the payload of refresh_token_reuse_detected.
type FamilyPayload struct {
	FamilyID string `json:"family_id"`
}

// LogoutPayload is the payload of logout: every family is revoked.
type LogoutPayload struct {
	Revoked int `json:"sessions_revoked"`
}

// IssuedCode is an outstanding (or recently used or expired) one-time code.
type IssuedCode struct {
	Purpose   string
	Hash      string
	ExpiresAt time.Time
	Used      bool
}

// TokenFamily is a chain of refresh tokens started by one sign-in. Only
// Current may be exchanged; presenting one of Rotated revokes the family.
type TokenFamily struct {
	ID        string
	Current   string
	Rotated   []string
	ExpiresAt time.Time
}

// User is the end-user aggregate.
type User struct {
	ID            string
	Email         string
	PasswordHash  string
	EmailVerified bool
	DisplayName   string
	AvatarURL     string
	Provider      string
	CreatedAt     time.Time
	LastSignInAt  time.Time
	Codes         []IssuedCode
	CodeFailures  map[string]int
	Families      map[string]*TokenFamily
	Version       int64
}

// Exists reports whether the user has signed up.
func (u *User) Exists() bool { return u.Version > 0 }

// SignUp decides the creation of a user. email must be normalised; a user
// created by a magic-link request has no password hash and no session.
func SignUp(p SignupPayload) ([]Change, error) {
	if p.Email == "" || p.Email != strings.ToLower(strings.TrimSpace(p.Email)) {
		return nil, Invalid("email", "email must be normalised")
	}
	p.DisplayName = strings.TrimSpace(p.DisplayName)
	if len(p.DisplayName) > MaxDisplayNameLen {
		return nil, Invalid("display_name", fmt.Sprintf("display_name must be at most %d characters", MaxDisplayNameLen))
	}
	switch p.Provider {
	case ProviderEmail:
		if p.PasswordHash == "" || p.Session == nil {
			return nil, Invalid("password", "password is required")
		}
	case ProviderMagicLink:
		if p.PasswordHash != "" || p.Session != nil {
			return nil, Invalid("provider", "a magic-link user starts without password or session")
		}
	default:
		return nil, Invalid("provider", "unknown provider")
	}
	return []Change{{EventSignup, p}}, nil
}

var codeEvents = map[string]string{
	CodeEmailVerify:   EventEmailVerificationSent,
	CodeMagicLink:     EventMagicLinkRequested,
	CodePasswordReset: EventPasswordResetRequested,
}

// IsCodeEvent reports whether typ carries a newly issued code (for the mailer).
func IsCodeEvent(typ string) bool {
	return typ == EventEmailVerificationSent || typ == EventMagicLinkRequested || typ == EventPasswordResetRequested
}

// IssueCode decides sending a one-time code; the caller made the code, its
// hash, its sealed copy and its expiry (now + CodeTTL).
func (u *User) IssueCode(p CodeIssuedPayload) ([]Change, error) {
	typ, ok := codeEvents[p.Purpose]
	if !ok || p.CodeHash == "" || p.CodeSealed == "" {
		return nil, Invalid("code", "malformed code")
	}
	p.Email = u.Email
	return []Change{{typ, p}}, nil
}

// Login decides a password sign-in (the password is checked by the caller).
func (u *User) Login(s SessionPayload) ([]Change, error) {
	if !u.Exists() || u.PasswordHash == "" {
		return nil, ErrInvalidCredentials
	}
	return []Change{{EventLogin, LoginPayload{Provider: ProviderEmail, Session: s}}}, nil
}

// FailedLogin records a refused password sign-in.
func (u *User) FailedLogin(reason string) []Change {
	return []Change{{EventLoginFailed, LoginFailedPayload{Reason: reason}}}
}

// CheckCode reports whether a code with this hash may be used now, without
// deciding anything. Hashes are compared in constant time.
func (u *User) CheckCode(purpose, hash string, now time.Time) error {
	var found *IssuedCode
	for i := range u.Codes {
		c := &u.Codes[i]
		if c.Purpose == purpose && subtle.ConstantTimeCompare([]byte(c.Hash), []byte(hash)) == 1 {
			found = c
		}
	}
	switch {
	case found == nil:
		return &CodeError{purpose, CodeInvalid}
	case found.Used:
		return &CodeError{purpose, CodeUsed}
	case !now.Before(found.ExpiresAt) || u.CodeFailures[purpose] >= MaxCodeAttempts:
		return &CodeError{purpose, CodeExpired}
	}
	return nil
}

// RejectCode records a wrong code (it counts towards MaxCodeAttempts).
func (u *User) RejectCode(purpose string) []Change {
	return []Change{{EventCodeRejected, CodeRejectedPayload{Purpose: purpose}}}
}

// MagicLinkLogin decides a sign-in with a magic-link code: the code is used
// up and the e-mail counts as verified.
func (u *User) MagicLinkLogin(hash string, now time.Time, s SessionPayload) ([]Change, error) {
	if err := u.CheckCode(CodeMagicLink, hash, now); err != nil {
		return nil, err
	}
	p := LoginPayload{Provider: ProviderMagicLink, Session: s, CodeHash: hash, IsNewUser: now.Sub(u.CreatedAt) < NewUserWindow}
	return []Change{{EventMagicLinkLogin, p}}, nil
}

// VerifyEmail decides verifying the e-mail with a code.
func (u *User) VerifyEmail(hash string, now time.Time) ([]Change, error) {
	if err := u.CheckCode(CodeEmailVerify, hash, now); err != nil {
		return nil, err
	}
	return []Change{{EventEmailVerified, EmailVerifiedPayload{CodeHash: hash}}}, nil
}

// ResetPassword decides setting a new password with a reset code. The
// caller checks the policy first, so a weak password does not burn the code.
func (u *User) ResetPassword(hash, passwordHash string, now time.Time) ([]Change, error) {
	if err := u.CheckCode(CodePasswordReset, hash, now); err != nil {
		return nil, err
	}
	if passwordHash == "" {
		return nil, Invalid("new_password", "new_password is required")
	}
	return []Change{{EventPasswordReset, PasswordResetPayload{CodeHash: hash, PasswordHash: passwordHash}}}, nil
}

// Refresh decides exchanging the refresh token with this hash for the new
// one in s (s.FamilyID is ignored: the token's family continues). A token
// that was already rotated is reuse: Refresh then returns the revocation of
// its family to append, together with ErrRefreshTokenReused.
func (u *User) Refresh(hash string, now time.Time, s SessionPayload) ([]Change, error) {
	for _, f := range u.Families {
		if subtle.ConstantTimeCompare([]byte(f.Current), []byte(hash)) == 1 {
			if !now.Before(f.ExpiresAt) {
				return nil, ErrInvalidRefreshToken
			}
			s.FamilyID = f.ID
			return []Change{{EventTokenRefreshed, TokenRefreshedPayload{Session: s}}}, nil
		}
	}
	for _, f := range u.Families {
		for _, old := range f.Rotated {
			if subtle.ConstantTimeCompare([]byte(old), []byte(hash)) == 1 {
				return []Change{{EventRefreshTokenReuseDetected, FamilyPayload{FamilyID: f.ID}}}, ErrRefreshTokenReused
			}
		}
	}
	return nil, ErrInvalidRefreshToken
}

// Logout decides revoking every refresh-token family of the user.
func (u *User) Logout() []Change {
	return []Change{{EventLogout, LogoutPayload{Revoked: len(u.Families)}}}
}

// Apply evolves the user by one event. Expired codes and families are
// dropped as time (event time) passes, so the state stays small.
func (u *User) Apply(typ string, payload json.RawMessage, at time.Time) error {
	if u.Families == nil {
		u.Families = map[string]*TokenFamily{}
	}
	if u.CodeFailures == nil {
		u.CodeFailures = map[string]int{}
	}
	switch typ {
	case EventSignup:
		var p SignupPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		u.Email, u.PasswordHash, u.DisplayName, u.Provider, u.CreatedAt = p.Email, p.PasswordHash, p.DisplayName, p.Provider, at
		if p.Session != nil {
			u.startFamily(*p.Session)
			u.LastSignInAt = at
		}
	case EventLogin, EventMagicLinkLogin:
		var p LoginPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		if p.CodeHash != "" {
			u.useCode(CodeMagicLink, p.CodeHash)
			u.EmailVerified = true
		}
		u.startFamily(p.Session)
		u.LastSignInAt = at
	case EventEmailVerificationSent, EventMagicLinkRequested, EventPasswordResetRequested:
		var p CodeIssuedPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		u.Codes = append(u.Codes, IssuedCode{Purpose: p.Purpose, Hash: p.CodeHash, ExpiresAt: p.ExpiresAt})
		u.CodeFailures[p.Purpose] = 0
	case EventCodeRejected:
		var p CodeRejectedPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		u.CodeFailures[p.Purpose]++
	case EventEmailVerified:
		var p EmailVerifiedPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		u.useCode(CodeEmailVerify, p.CodeHash)
		u.EmailVerified = true
	case EventPasswordReset:
		var p PasswordResetPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		u.useCode(CodePasswordReset, p.CodeHash)
		u.PasswordHash = p.PasswordHash
		// The code came through the mailbox: that proves the address.
		u.EmailVerified = true
		clear(u.Families)
	case EventTokenRefreshed:
		var p TokenRefreshedPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		if f, ok := u.Families[p.Session.FamilyID]; ok {
			f.Rotated = append(f.Rotated, f.Current)
			if len(f.Rotated) > MaxRotatedHashes {
				f.Rotated = f.Rotated[len(f.Rotated)-MaxRotatedHashes:]
			}
			f.Current, f.ExpiresAt = p.Session.TokenHash, p.Session.ExpiresAt
		}
	case EventRefreshTokenReuseDetected:
		var p FamilyPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		delete(u.Families, p.FamilyID)
	case EventLogout:
		clear(u.Families)
	}
	u.prune(at)
	u.Version++
	return nil
}

func (u *User) startFamily(s SessionPayload) {
	u.Families[s.FamilyID] = &TokenFamily{ID: s.FamilyID, Current: s.TokenHash, ExpiresAt: s.ExpiresAt}
}

func (u *User) useCode(purpose, hash string) {
	for i := range u.Codes {
		if u.Codes[i].Purpose == purpose && u.Codes[i].Hash == hash {
			u.Codes[i].Used = true
		}
	}
	u.CodeFailures[purpose] = 0
}

func (u *User) prune(at time.Time) {
	kept := u.Codes[:0]
	for _, c := range u.Codes {
		if at.Sub(c.ExpiresAt) < codeRetention {
			kept = append(kept, c)
		}
	}
	u.Codes = kept
	for id, f := range u.Families {
		if !at.Before(f.ExpiresAt) {
			delete(u.Families, id)
		}
	}
}
