package commands

import (
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"time"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/secret"
)

// Auth runs the end-user auth commands of every app. It needs, beyond the
// Service, the sealer that keeps codes out of the log in clear and makes
// their keyed hashes.
type Auth struct {
	*Service
	Sealer *secret.Sealer
	// hashSlots bounds concurrent argon2id computations (19 MiB each), so a
	// burst of logins queues instead of exhausting memory.
	hashSlots chan struct{}
}

// NewAuth returns the auth commands over s.
func NewAuth(s *Service, sealer *secret.Sealer) *Auth {
	return &Auth{Service: s, Sealer: sealer, hashSlots: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
}

// Session is what a successful sign-in hands out, once: the refresh token
// exists in clear only here (the log holds its SHA-256).
type Session struct {
	User           *domain.User
	RefreshToken   string
	RefreshExpires time.Time
	IsNewUser      bool
}

// usersColl and emailField name the claim streams of user e-mails (the same
// shape as the unique-field claims of documents).
const (
	usersColl  = "_users"
	emailField = "email"
	// loginFailuresStream records failed logins for unknown e-mails.
	loginFailuresStream = "login-failures"
)

// NewUserID returns a new user id: 24 hex characters.
func NewUserID() string { return secret.HexID(12) }

func validUserID(id string) bool {
	if len(id) != 24 {
		return false
	}
	for _, c := range id {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// A refresh token is "<user id>.<32 random bytes, base64url>": the user id
// finds the stream, the random part is the secret.
func parseRefreshToken(tok string) (userID string, ok bool) {
	id, rest, found := strings.Cut(tok, ".")
	if !found || !validUserID(id) || len(rest) != 43 {
		return "", false
	}
	return id, true
}

func (a *Auth) newSession(userID string, refreshDays int, now time.Time) (domain.SessionPayload, string) {
	if refreshDays <= 0 {
		refreshDays = 7
	}
	tok := userID + "." + secret.Token("", 32)
	return domain.SessionPayload{FamilyID: secret.HexID(8), TokenHash: secret.Hash(tok), ExpiresAt: now.Add(time.Duration(refreshDays) * 24 * time.Hour)}, tok
}

// codeHash is the keyed hash a code is stored as: bound to app, user and
// purpose, and useless without the master key (a 6-digit code's plain hash
// falls to a million guesses).
func (a *Auth) codeHash(appID, userID, purpose, code string) string {
	return a.Sealer.MAC("code", appID, userID, purpose, code)
}

// CodeSealContext is the authenticated context a code is sealed under.
func CodeSealContext(appID, userID, purpose string) string {
	return "code|" + appID + "|" + userID + "|" + purpose
}

// OpenCode returns the plaintext code carried (sealed) by a code event.
func OpenCode(s *secret.Sealer, e eventstore.Event) (string, domain.CodeIssuedPayload, error) {
	var p domain.CodeIssuedPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return "", p, err
	}
	code, err := s.Open(p.CodeSealed, CodeSealContext(e.AppID, strings.TrimPrefix(e.StreamID, "user-"), p.Purpose))
	return string(code), p, err
}

func (a *Auth) newCode(appID, userID, purpose string, now time.Time) domain.CodeIssuedPayload {
	code := secret.Code(6)
	return domain.CodeIssuedPayload{Purpose: purpose, CodeHash: a.codeHash(appID, userID, purpose, code),
		CodeSealed: a.Sealer.Seal([]byte(code), CodeSealContext(appID, userID, purpose)), ExpiresAt: now.Add(domain.CodeTTL(purpose))}
}

func validCode(code string) bool {
	if len(code) != 6 {
		return false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (a *Auth) slot(ctx context.Context) (func(), error) {
	select {
	case a.hashSlots <- struct{}{}:
		return func() { <-a.hashSlots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (a *Auth) hashPassword(ctx context.Context, pw string) (string, error) {
	release, err := a.slot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return secret.HashPassword(pw), nil
}

// checkPassword checks pw against hash; an empty hash spends the same time
// and fails, so unknown users cost what known ones do.
func (a *Auth) checkPassword(ctx context.Context, hash, pw string) (bool, error) {
	release, err := a.slot(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	if hash == "" {
		secret.DummyPasswordCheck(pw)
		return false, nil
	}
	ok, _ := secret.CheckPassword(hash, pw)
	return ok, nil
}

// asUser records auth events as the user's own unless a key or admin acted.
func asUser(m Meta, userID string) Meta {
	if m.Actor == "" || m.Actor == "anonymous" {
		m.Actor = userID
	}
	return m
}

// LoadUser folds a user's stream. A user that never signed up is returned
// with Exists() false; a malformed id is domain.ErrUserNotFound.
func (a *Auth) LoadUser(ctx context.Context, appID, userID string) (*domain.User, error) {
	if !validUserID(userID) {
		return nil, domain.ErrUserNotFound
	}
	evs, err := a.Events.ReadStream(ctx, appID, domain.UserStream(userID), 0)
	if err != nil {
		return nil, err
	}
	u := &domain.User{ID: userID}
	for _, e := range evs {
		if err := u.Apply(e.Type, e.Payload, e.Time); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// UserByEmail returns the user holding the normalised e-mail, or
// domain.ErrUserNotFound. It reads the log, not a read model, so it sees
// every acknowledged signup.
func (a *Auth) UserByEmail(ctx context.Context, appID, email string) (*domain.User, error) {
	evs, err := a.Events.ReadStream(ctx, appID, claimStream(usersColl, emailField, email), 0)
	if err != nil {
		return nil, err
	}
	n := len(evs)
	if n == 0 || evs[n-1].Type != domain.EventUniqueClaimed {
		return nil, domain.ErrUserNotFound
	}
	var p claimPayload
	if err := json.Unmarshal(evs[n-1].Payload, &p); err != nil {
		return nil, err
	}
	u, err := a.LoadUser(ctx, appID, p.DocID)
	if err != nil {
		return nil, err
	}
	if !u.Exists() {
		return nil, domain.ErrUserNotFound // claimed by a signup in flight, or one that crashed
	}
	return u, nil
}

// claimEmail takes the e-mail for userID: of many racing signups exactly one
// appends the claim. A claim whose user never appeared (its writer crashed)
// is taken over once it is older than staleClaimAge.
func (a *Auth) claimEmail(ctx context.Context, m Meta, appID, email, userID string) error {
	err := a.takeClaim(ctx, m, appID, usersColl, emailField, email, userID, func(ctx context.Context, other string) (bool, error) {
		holder, err := a.LoadUser(ctx, appID, other)
		if err != nil && !errors.Is(err, domain.ErrUserNotFound) {
			return false, err
		}
		return holder != nil && holder.Exists(), nil
	})
	if errors.Is(err, errClaimTaken) {
		return domain.ErrEmailTaken
	}
	return err
}

// createUser claims the e-mail and appends the signup with follow-up
// changes decided on the new user (a code, for instance).
func (a *Auth) createUser(ctx context.Context, m Meta, appID, userID string, p domain.SignupPayload, then func(u *domain.User) ([]domain.Change, error)) (*domain.User, error) {
	changes, err := domain.SignUp(p)
	if err != nil {
		return nil, err
	}
	if err := a.claimEmail(ctx, m, appID, p.Email, userID); err != nil {
		return nil, err
	}
	u := &domain.User{ID: userID}
	if err := foldChanges(u, changes, a.Now()); err != nil {
		return nil, err
	}
	if then != nil {
		more, err := then(u)
		if err != nil {
			return nil, err
		}
		changes = append(changes, more...)
	}
	evs, err := a.Append(ctx, asUser(m, userID), appID, domain.UserStream(userID), eventstore.NoStream, changes)
	if err != nil {
		return nil, err
	}
	return foldEvents(userID, evs)
}

func foldChanges(u *domain.User, changes []domain.Change, at time.Time) error {
	for _, c := range changes {
		raw, err := json.Marshal(c.Payload)
		if err != nil {
			return err
		}
		if err := u.Apply(c.Type, raw, at); err != nil {
			return err
		}
	}
	return nil
}

func foldEvents(userID string, evs []eventstore.Event) (*domain.User, error) {
	u := &domain.User{ID: userID}
	for _, e := range evs {
		if err := u.Apply(e.Type, e.Payload, e.Time); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// updateUser re-decides a change of an existing user until it commits
// without conflict. decide may return changes together with an error: the
// changes (a rejected code, a revoked family) are appended and the error is
// returned.
func (a *Auth) updateUser(ctx context.Context, m Meta, appID, userID string, decide func(u *domain.User) ([]domain.Change, error)) (*domain.User, error) {
	var u *domain.User
	err := retry(ctx, func() error {
		var err error
		if u, err = a.LoadUser(ctx, appID, userID); err != nil {
			return err
		}
		if !u.Exists() {
			return domain.ErrUserNotFound
		}
		changes, derr := decide(u)
		if len(changes) == 0 {
			return derr
		}
		evs, err := a.Append(ctx, asUser(m, userID), appID, domain.UserStream(userID), u.Version, changes)
		if err != nil {
			return err
		}
		for _, e := range evs {
			if err := u.Apply(e.Type, e.Payload, e.Time); err != nil {
				return err
			}
		}
		return derr
	})
	return u, err
}

// SignUp creates a password user, signs it in and sends an e-mail
// verification code. The e-mail is claimed before the (costly) password
// hash, so of concurrent signups with one address one does the work.
func (a *Auth) SignUp(ctx context.Context, m Meta, app *domain.App, email, password, displayName string) (*Session, error) {
	email, err := domain.NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if err := domain.CheckPasswordPolicy(password); err != nil {
		return nil, err
	}
	now := a.Now()
	userID := NewUserID()
	sp, tok := a.newSession(userID, app.RefreshDays, now)
	p := domain.SignupPayload{Email: email, PasswordHash: "pending", DisplayName: displayName, Provider: domain.ProviderEmail, Session: &sp}
	if _, err := domain.SignUp(p); err != nil { // refuse bad input before claiming the address
		return nil, err
	}
	// The claim comes first: a duplicate costs no argon2id.
	if err := a.claimEmail(ctx, m, app.ID, email, userID); err != nil {
		return nil, err
	}
	if p.PasswordHash, err = a.hashPassword(ctx, password); err != nil {
		return nil, err
	}
	u, err := a.createUser(ctx, m, app.ID, userID, p, func(u *domain.User) ([]domain.Change, error) {
		return u.IssueCode(a.newCode(app.ID, userID, domain.CodeEmailVerify, now))
	})
	if err != nil {
		return nil, err
	}
	return &Session{User: u, RefreshToken: tok, RefreshExpires: sp.ExpiresAt, IsNewUser: true}, nil
}

// Login signs a user in with e-mail and password. Every refusal is
// domain.ErrInvalidCredentials and costs one argon2id check.
func (a *Auth) Login(ctx context.Context, m Meta, app *domain.App, email, password string) (*Session, error) {
	norm, nerr := domain.NormalizeEmail(email)
	var u *domain.User
	err := domain.ErrUserNotFound
	if nerr == nil {
		u, err = a.UserByEmail(ctx, app.ID, norm)
	}
	if err != nil && !errors.Is(err, domain.ErrUserNotFound) {
		return nil, err
	}
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	ok, cerr := a.checkPassword(ctx, hash, password)
	if cerr != nil {
		return nil, cerr
	}
	if !ok {
		if u == nil {
			if nerr == nil {
				_, _ = a.Append(ctx, m, app.ID, loginFailuresStream, eventstore.Any,
					[]domain.Change{{Type: domain.EventLoginFailed, Payload: domain.LoginFailedPayload{Reason: "user_not_found", Email: norm}}})
			}
		} else {
			reason := "invalid_password"
			if hash == "" {
				reason = "no_password"
			}
			_, _ = a.Append(ctx, asUser(m, u.ID), app.ID, domain.UserStream(u.ID), eventstore.Any, u.FailedLogin(reason))
		}
		return nil, domain.ErrInvalidCredentials
	}
	sp, tok := a.newSession(u.ID, app.RefreshDays, a.Now())
	u, err = a.updateUser(ctx, m, app.ID, u.ID, func(cur *domain.User) ([]domain.Change, error) {
		if cur.PasswordHash != hash { // reset meanwhile: the checked password is no longer the one
			return nil, domain.ErrInvalidCredentials
		}
		return cur.Login(sp)
	})
	if err != nil {
		return nil, err
	}
	return &Session{User: u, RefreshToken: tok, RefreshExpires: sp.ExpiresAt}, nil
}

// Refresh exchanges a refresh token for a new one (rotation). Presenting a
// token that was already exchanged revokes its whole family.
func (a *Auth) Refresh(ctx context.Context, m Meta, app *domain.App, token string) (*Session, error) {
	userID, ok := parseRefreshToken(token)
	if !ok {
		return nil, domain.ErrInvalidRefreshToken
	}
	hash := secret.Hash(token)
	sp, tok := a.newSession(userID, app.RefreshDays, a.Now())
	u, err := a.updateUser(ctx, m, app.ID, userID, func(u *domain.User) ([]domain.Change, error) {
		return u.Refresh(hash, a.Now(), sp)
	})
	if errors.Is(err, domain.ErrUserNotFound) {
		err = domain.ErrInvalidRefreshToken
	}
	if err != nil {
		return nil, err
	}
	return &Session{User: u, RefreshToken: tok, RefreshExpires: sp.ExpiresAt}, nil
}

// Logout revokes every refresh token of the user.
func (a *Auth) Logout(ctx context.Context, m Meta, appID, userID string) error {
	_, err := a.updateUser(ctx, m, appID, userID, func(u *domain.User) ([]domain.Change, error) { return u.Logout(), nil })
	return err
}

// RequestMagicLink sends a sign-in code, creating the user if the e-mail is
// new. Its outcome does not depend on whether the user existed.
func (a *Auth) RequestMagicLink(ctx context.Context, m Meta, app *domain.App, email string) error {
	email, err := domain.NormalizeEmail(email)
	if err != nil {
		return err
	}
	for attempt := 0; attempt < 5; attempt++ {
		u, err := a.UserByEmail(ctx, app.ID, email)
		if err == nil {
			_, err = a.updateUser(ctx, m, app.ID, u.ID, func(u *domain.User) ([]domain.Change, error) {
				return u.IssueCode(a.newCode(app.ID, u.ID, domain.CodeMagicLink, a.Now()))
			})
			return err
		}
		if !errors.Is(err, domain.ErrUserNotFound) {
			return err
		}
		userID := NewUserID()
		_, err = a.createUser(ctx, m, app.ID, userID, domain.SignupPayload{Email: email, Provider: domain.ProviderMagicLink},
			func(u *domain.User) ([]domain.Change, error) {
				p := a.newCode(app.ID, userID, domain.CodeMagicLink, a.Now())
				p.IsNewUser = true
				return u.IssueCode(p)
			})
		if !errors.Is(err, domain.ErrEmailTaken) {
			return err
		}
		// Another request is creating this user right now: wait for it.
		select {
		case <-time.After(time.Duration(attempt+1) * 20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil // the concurrent request sends the code
}

// useCode runs a code-consuming decision for the user holding email. A
// wrong code is recorded (it counts towards domain.MaxCodeAttempts).
func (a *Auth) useCode(ctx context.Context, m Meta, appID, email, code, purpose string, decide func(u *domain.User, hash string) ([]domain.Change, error)) (*domain.User, error) {
	invalid := &domain.CodeError{Purpose: purpose, Reason: domain.CodeInvalid}
	email, err := domain.NormalizeEmail(email)
	if err != nil || !validCode(code) {
		return nil, invalid
	}
	u, err := a.UserByEmail(ctx, appID, email)
	if errors.Is(err, domain.ErrUserNotFound) {
		return nil, invalid
	}
	if err != nil {
		return nil, err
	}
	hash := a.codeHash(appID, u.ID, purpose, code)
	return a.updateUser(ctx, m, appID, u.ID, func(u *domain.User) ([]domain.Change, error) {
		changes, err := decide(u, hash)
		var ce *domain.CodeError
		if errors.As(err, &ce) && ce.Reason == domain.CodeInvalid {
			return u.RejectCode(purpose), err
		}
		return changes, err
	})
}

// VerifyMagicLink signs in with a magic-link code and marks the e-mail verified.
func (a *Auth) VerifyMagicLink(ctx context.Context, m Meta, app *domain.App, email, code string) (*Session, error) {
	var sp domain.SessionPayload
	var tok string
	u, err := a.useCode(ctx, m, app.ID, email, code, domain.CodeMagicLink, func(u *domain.User, hash string) ([]domain.Change, error) {
		sp, tok = a.newSession(u.ID, app.RefreshDays, a.Now())
		return u.MagicLinkLogin(hash, a.Now(), sp)
	})
	if err != nil {
		return nil, err
	}
	return &Session{User: u, RefreshToken: tok, RefreshExpires: sp.ExpiresAt, IsNewUser: a.Now().Sub(u.CreatedAt) < domain.NewUserWindow}, nil
}

// VerifyEmail marks the e-mail verified with the code sent at signup.
func (a *Auth) VerifyEmail(ctx context.Context, m Meta, appID, email, code string) error {
	_, err := a.useCode(ctx, m, appID, email, code, domain.CodeEmailVerify, func(u *domain.User, hash string) ([]domain.Change, error) {
		return u.VerifyEmail(hash, a.Now())
	})
	return err
}

// ForgotPassword sends a reset code if the e-mail belongs to a user, and
// succeeds either way.
func (a *Auth) ForgotPassword(ctx context.Context, m Meta, appID, email string) error {
	email, err := domain.NormalizeEmail(email)
	if err != nil {
		return err
	}
	u, err := a.UserByEmail(ctx, appID, email)
	if errors.Is(err, domain.ErrUserNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = a.updateUser(ctx, m, appID, u.ID, func(u *domain.User) ([]domain.Change, error) {
		return u.IssueCode(a.newCode(appID, u.ID, domain.CodePasswordReset, a.Now()))
	})
	return err
}

// ResetPassword sets a new password with a reset code and ends every
// session. The policy is checked first, so a weak password keeps the code.
func (a *Auth) ResetPassword(ctx context.Context, m Meta, appID, email, code, newPassword string) error {
	if err := domain.CheckPasswordPolicy(newPassword); err != nil {
		return err
	}
	var newHash string
	_, err := a.useCode(ctx, m, appID, email, code, domain.CodePasswordReset, func(u *domain.User, hash string) ([]domain.Change, error) {
		if err := u.CheckCode(domain.CodePasswordReset, hash, a.Now()); err != nil {
			return nil, err
		}
		if newHash == "" { // hash once, only for a code that is good
			var err error
			if newHash, err = a.hashPassword(ctx, newPassword); err != nil {
				return nil, err
			}
		}
		return u.ResetPassword(hash, newHash, a.Now())
	})
	return err
}
