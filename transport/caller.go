package transport

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/eventbase/eventbase/commands"
	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/secret"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/mux"
)

// Key kinds a caller can present.
const (
	KeyNone        = ""
	KeyPublishable = "publishable_key"
	KeySecret      = "secret_key"
)

// Caller is who is making a request, once keys and tokens are checked.
type Caller struct {
	App    *domain.App
	Key    string // KeyNone, KeyPublishable or KeySecret
	Admin  string // admin e-mail, for a dashboard admin token
	UserID string // end user, for a valid access token
}

// Privileged reports whether the caller bypasses RLS: secret key or admin.
func (c *Caller) Privileged() bool { return c.Key == KeySecret || c.Admin != "" }

// Actor is how events record the caller.
func (c *Caller) Actor() string {
	switch {
	case c.Admin != "":
		return "admin:" + c.Admin
	case c.UserID != "":
		return c.UserID
	case c.Key != KeyNone:
		return c.Key
	}
	return "anonymous"
}

func callerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(keyCaller).(*Caller)
	return c
}

func meta(r *http.Request) commands.Meta {
	m := commands.Meta{RequestID: requestID(r.Context())}
	if c := callerFrom(r.Context()); c != nil {
		m.Actor = c.Actor()
	}
	return m
}

// presentedKey returns the API key sent as x-api-key, or as a Bearer token
// that looks like a key.
func presentedKey(r *http.Request) string {
	if k := r.Header.Get("x-api-key"); k != "" {
		return k
	}
	if b := bearer(r); strings.HasPrefix(b, "sk_live_") || strings.HasPrefix(b, "pk_live_") {
		return b
	}
	return ""
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

var errAppNotFound = errf(http.StatusNotFound, "app_not_found", "App not found")

// pathApp returns the app named by the {app_id} path variable; an unknown
// app is a 404, never a 500.
func (a *API) pathApp(r *http.Request) (*domain.App, error) {
	app, err := a.apps.ByID(r.Context(), mux.Vars(r)["app_id"])
	if errors.Is(err, domain.ErrNotFound) {
		return nil, errAppNotFound
	}
	return app, err
}

// native resolves the app from the path and the caller from the key and
// tokens, for /v1/{app_id}/... routes. A key of another app is a 401.
func (a *API) native(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		app, err := a.pathApp(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		c := &Caller{App: app}
		if key := presentedKey(r); key != "" {
			switch {
			case strings.HasPrefix(key, "sk_live_") && secret.Equal(secret.Hash(key), app.SecretKeyHash):
				c.Key = KeySecret
			case strings.HasPrefix(key, "pk_live_") && secret.Equal(key, app.PublishableKey):
				c.Key = KeyPublishable
			default:
				writeError(w, r, errKeyInvalid)
				return
			}
		}
		a.userFromToken(r, c)
		next(w, r.WithContext(context.WithValue(r.Context(), keyCaller, c)))
	}
}

// userFromToken reads a Bearer token that is not a key: an admin token, or
// an end user's access token for this app. Invalid tokens are ignored, as
// urBackend does: the request then counts as anonymous and the access rules
// answer 401 where a user is needed.
func (a *API) userFromToken(r *http.Request, c *Caller) {
	tok := bearer(r)
	if tok == "" || strings.HasPrefix(tok, "sk_live_") || strings.HasPrefix(tok, "pk_live_") {
		return
	}
	if c.Key == KeyNone {
		if email, ok := a.verifyAdminToken(tok); ok {
			c.Admin = email
			return
		}
	}
	if a.tokens != nil {
		if uid, err := a.tokens.Verify(r.Context(), c.App, tok); err == nil {
			c.UserID = uid
		}
	}
}

// TokenVerifier checks an end user's access token for an app and returns the
// user id.
type TokenVerifier interface {
	Verify(ctx context.Context, app *domain.App, token string) (userID string, err error)
}

// urBackend resolves the app from the API key, for /api/... routes: the
// x-api-key header, or ?key= for publishable keys only.
func (a *API) urBackend(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("x-api-key")
		if key == "" {
			if k := r.URL.Query().Get("key"); strings.HasPrefix(k, "pk_live_") {
				key = k
			}
		}
		if key == "" {
			writeError(w, r, errKeyMissing)
			return
		}
		c := &Caller{}
		var err error
		switch {
		case strings.HasPrefix(key, "sk_live_"):
			c.App, err = a.apps.ByKey(r.Context(), "secret_key_hash", secret.Hash(key))
			c.Key = KeySecret
		case strings.HasPrefix(key, "pk_live_"):
			c.App, err = a.apps.ByKey(r.Context(), "publishable_key", key)
			c.Key = KeyPublishable
		default:
			err = domain.ErrNotFound
		}
		if errors.Is(err, domain.ErrNotFound) {
			err = errKeyInvalid
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		a.userFromToken(r, c)
		next(w, r.WithContext(context.WithValue(r.Context(), keyCaller, c)))
	}
}

// dataRoutes registers the Data API under sub with the dialect's resolver.
func (a *API) dataRoutes(sub *mux.Router, resolve func(http.HandlerFunc) http.HandlerFunc) {
	sub.HandleFunc("/{collection}", resolve(handle(a.listDocuments))).Methods(http.MethodGet)
	sub.HandleFunc("/{collection}", resolve(handle(a.createDocument))).Methods(http.MethodPost)
	sub.HandleFunc("/{collection}/{id}", resolve(handle(a.getDocument))).Methods(http.MethodGet)
	sub.HandleFunc("/{collection}/{id}", resolve(handle(a.updateDocument(false)))).Methods(http.MethodPatch)
	sub.HandleFunc("/{collection}/{id}", resolve(handle(a.updateDocument(true)))).Methods(http.MethodPut)
	sub.HandleFunc("/{collection}/{id}", resolve(handle(a.deleteDocument))).Methods(http.MethodDelete)
	sub.HandleFunc("/{collection}/{id}/history", resolve(handle(a.documentHistory))).Methods(http.MethodGet)
}

// privileged lets only the secret key or an admin through.
func (a *API) privileged(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := callerFrom(r.Context())
		if c == nil || !c.Privileged() {
			if c != nil && c.Key == KeyNone && c.Admin == "" {
				writeError(w, r, errf(http.StatusUnauthorized, "unauthorized", "This route needs the secret key (x-api-key or Authorization: Bearer sk_live_…) or an admin token"))
				return
			}
			writeError(w, r, errSecretRequired)
			return
		}
		next(w, r)
	}
}

const adminAudience = "eventbase-admin"

func (a *API) issueAdminToken(email string, now time.Time) (string, int, error) {
	const ttl = 12 * time.Hour
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: email, Audience: jwt.ClaimStrings{adminAudience}, IssuedAt: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)), ID: secret.HexID(8),
	})
	s, err := tok.SignedString(a.cfg.AdminSecret)
	return s, int(ttl.Seconds()), err
}

func (a *API) verifyAdminToken(tok string) (string, bool) {
	if len(a.cfg.AdminSecret) == 0 {
		return "", false
	}
	var claims jwt.RegisteredClaims
	t, err := jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return a.cfg.AdminSecret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience(adminAudience), jwt.WithExpirationRequired())
	if err != nil || !t.Valid || claims.Subject == "" {
		return "", false
	}
	return claims.Subject, true
}

// requireAdmin lets only a valid admin token through.
func (a *API) requireAdmin(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		email, ok := a.verifyAdminToken(bearer(r))
		if !ok {
			writeError(w, r, errAdminRequired)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), keyCaller, &Caller{Admin: email})))
	}
}
