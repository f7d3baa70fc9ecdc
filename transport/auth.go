package transport

import (
	"context"
	"errors"
	"net/http"

	"github.com/eventbase/eventbase/commands"
	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/mailer"
	"github.com/eventbase/eventbase/projections"
	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
	"github.com/eventbase/eventbase/secret"
	"github.com/eventbase/eventbase/tokens"
	"github.com/gorilla/mux"
)

// AuthDeps are the collaborators of the end-user auth routes.
type AuthDeps struct {
	Users  *commands.Auth
	Tokens AccessTokens
	// Sealer opens the codes of the dev outbox.
	Sealer *secret.Sealer
	// DevOutbox serves GET /admin/v1/apps/{id}/outbox (when mail does not
	// go out over SMTP).
	DevOutbox bool
	Limits    RateLimits
	// HookSecret returns the key that signs an app's post-auth hooks.
	HookSecret func(appID string) string
}

// AccessTokens issues, verifies and publishes end users' access tokens
// (tokens.Service).
type AccessTokens interface {
	TokenVerifier
	Issue(ctx context.Context, app *domain.App, u *domain.User) (token string, expiresIn int, err error)
	JWKS(ctx context.Context, app *domain.App) (tokens.JWKS, error)
	Rotate(ctx context.Context, app *domain.App) (kid string, err error)
}

// Bearer refusals of the user routes (texts in errors.go).
var (
	errNoBearer  = errors.New("no bearer token")
	errBadBearer = errors.New("invalid bearer token")
)

func (a *API) authRoutes(r *mux.Router) {
	if a.auth.Users == nil || a.auth.Tokens == nil {
		return
	}
	// Full paths on the root router (not a subrouter), so that a wrong
	// method answers 405 rather than 404.
	const au = "/auth/{app_id}"
	post := func(path, limit string, h http.HandlerFunc) {
		if limit != "" {
			h = a.rateLimited(limit, h)
		}
		r.HandleFunc(au+path, a.authApp(h)).Methods(http.MethodPost)
	}
	post("/signup", "signup", a.authSignup)
	post("/login", "login", a.authLogin)
	post("/magic-link", "magic_link", a.authMagicLink)
	post("/magic-link/verify", "magic_link_verify", a.authMagicLinkVerify)
	post("/refresh", "refresh", a.authRefresh)
	post("/logout", "", a.authLogout)
	post("/verify-email", "verify_email", a.authVerifyEmail)
	post("/forgot-password", "forgot_password", a.authForgotPassword)
	post("/reset-password", "reset_password", a.authResetPassword)
	r.HandleFunc(au+"/me", a.authApp(a.authMe)).Methods(http.MethodGet)
	r.HandleFunc(au+"/.well-known/jwks.json", a.authApp(a.authJWKS)).Methods(http.MethodGet)

	// Registered before the /v1/{app_id} data routes, which would take
	// /config/... as /{collection}/{id}.
	r.HandleFunc("/v1/{app_id}/config/jwt/rotate-key", a.native(a.privileged(a.rotateSigningKey))).Methods(http.MethodPost)
	r.HandleFunc("/v1/{app_id}/config/auth-hooks", a.native(a.privileged(a.setAuthHooks))).Methods(http.MethodPatch)
	r.HandleFunc("/admin/v1/apps/{app_id}/outbox", a.requireAdmin(a.adminOutbox)).Methods(http.MethodGet)

	r.HandleFunc("/api/userAuth/signup", a.urBackend(a.rateLimited("signup", a.urSignup))).Methods(http.MethodPost)
	r.HandleFunc("/api/userAuth/login", a.urBackend(a.rateLimited("login", a.urLogin))).Methods(http.MethodPost)
	r.HandleFunc("/api/userAuth/me", a.urBackend(a.urMe)).Methods(http.MethodGet)
}

// authApp resolves the app of /auth/{app_id}/... routes, which need no key.
// An unknown app is a 404, never a 500.
func (a *API) authApp(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		app, err := a.pathApp(r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), keyCaller, &Caller{App: app})))
	}
}

// bearerUser verifies the request's access token for the caller's app.
func (a *API) bearerUser(r *http.Request) (string, error) {
	tok := bearer(r)
	if tok == "" {
		return "", errNoBearer
	}
	uid, err := a.auth.Tokens.Verify(r.Context(), callerFrom(r.Context()).App, tok)
	if err != nil {
		return "", errBadBearer
	}
	return uid, nil
}

// userView is the user object of the login shape.
func userView(u *domain.User) map[string]any {
	return map[string]any{"id": u.ID, "email": u.Email, "email_verified": u.EmailVerified,
		"display_name": nullIfEmpty(u.DisplayName), "avatar_url": nullIfEmpty(u.AvatarURL)}
}

// tokenPair issues the access token of a session.
func (a *API) tokenPair(ctx context.Context, app *domain.App, s *commands.Session) (map[string]any, error) {
	access, ttl, err := a.auth.Tokens.Issue(ctx, app, s.User)
	if err != nil {
		return nil, err
	}
	return map[string]any{"access_token": access, "refresh_token": s.RefreshToken, "expires_in": ttl, "token_type": "Bearer"}, nil
}

// writeSession answers with the login shape.
func (a *API) writeSession(w http.ResponseWriter, r *http.Request, status int, s *commands.Session, err error) {
	if err != nil {
		writeError(w, r, err)
		return
	}
	body, err := a.tokenPair(r.Context(), callerFrom(r.Context()).App, s)
	if err != nil {
		writeError(w, r, err)
		return
	}
	body["user"] = userView(s.User)
	writeJSON(w, status, body)
}

type credentialsBody struct {
	Email       string `json:"email"`
	Password    string `json:"password"`
	DisplayName string `json:"display_name"`
	Name        string `json:"name"` // urBackend
	Code        string `json:"code"`
	NewPassword string `json:"new_password"`
	Refresh     string `json:"refresh_token"`
}

// body decodes the JSON body, answering the error itself.
func (a *API) body(w http.ResponseWriter, r *http.Request) (*credentialsBody, bool) {
	var b credentialsBody
	if err := a.decodeJSON(w, r, &b); err != nil {
		writeError(w, r, err)
		return nil, false
	}
	return &b, true
}

func (a *API) authSignup(w http.ResponseWriter, r *http.Request) {
	b, ok := a.body(w, r)
	if !ok {
		return
	}
	s, err := a.auth.Users.SignUp(r.Context(), meta(r), callerFrom(r.Context()).App, b.Email, b.Password, b.DisplayName)
	a.writeSession(w, r, http.StatusCreated, s, err)
}

func (a *API) authLogin(w http.ResponseWriter, r *http.Request) {
	b, ok := a.body(w, r)
	if !ok {
		return
	}
	s, err := a.auth.Users.Login(r.Context(), meta(r), callerFrom(r.Context()).App, b.Email, b.Password)
	a.writeSession(w, r, http.StatusOK, s, err)
}

func (a *API) authMagicLink(w http.ResponseWriter, r *http.Request) {
	b, ok := a.body(w, r)
	if !ok {
		return
	}
	if err := a.auth.Users.RequestMagicLink(r.Context(), meta(r), callerFrom(r.Context()).App, b.Email); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "If an account exists with that email, a sign-in code has been sent"})
}

func (a *API) authMagicLinkVerify(w http.ResponseWriter, r *http.Request) {
	b, ok := a.body(w, r)
	if !ok {
		return
	}
	s, err := a.auth.Users.VerifyMagicLink(r.Context(), meta(r), callerFrom(r.Context()).App, b.Email, b.Code)
	a.writeSession(w, r, http.StatusOK, s, err)
}

func (a *API) authRefresh(w http.ResponseWriter, r *http.Request) {
	b, ok := a.body(w, r)
	if !ok {
		return
	}
	app := callerFrom(r.Context()).App
	s, err := a.auth.Users.Refresh(r.Context(), meta(r), app, b.Refresh)
	if err != nil {
		writeError(w, r, err)
		return
	}
	body, err := a.tokenPair(r.Context(), app, s)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (a *API) authLogout(w http.ResponseWriter, r *http.Request) {
	uid, err := a.bearerUser(r)
	if err == nil {
		err = a.auth.Users.Logout(r.Context(), meta(r), callerFrom(r.Context()).App.ID, uid)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "Logged out successfully"})
}

func (a *API) authVerifyEmail(w http.ResponseWriter, r *http.Request) {
	b, ok := a.body(w, r)
	if !ok {
		return
	}
	if err := a.auth.Users.VerifyEmail(r.Context(), meta(r), callerFrom(r.Context()).App.ID, b.Email, b.Code); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "Email verified successfully"})
}

func (a *API) authForgotPassword(w http.ResponseWriter, r *http.Request) {
	b, ok := a.body(w, r)
	if !ok {
		return
	}
	if err := a.auth.Users.ForgotPassword(r.Context(), meta(r), callerFrom(r.Context()).App.ID, b.Email); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "If an account exists with that email, a password reset code has been sent"})
}

func (a *API) authResetPassword(w http.ResponseWriter, r *http.Request) {
	b, ok := a.body(w, r)
	if !ok {
		return
	}
	if err := a.auth.Users.ResetPassword(r.Context(), meta(r), callerFrom(r.Context()).App.ID, b.Email, b.Code, b.NewPassword); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "Password reset successfully"})
}

// meDoc returns the read-model profile of the bearer's user.
func (a *API) meDoc(r *http.Request) (readstore.Doc, error) {
	uid, err := a.bearerUser(r)
	if err != nil {
		return nil, err
	}
	return projections.Users{Reads: a.reads}.ByID(r.Context(), callerFrom(r.Context()).App.ID, uid)
}

func (a *API) authMe(w http.ResponseWriter, r *http.Request) {
	doc, err := a.meDoc(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": doc["_id"], "email": doc["email"], "email_verified": doc["email_verified"],
		"display_name": doc["display_name"], "avatar_url": doc["avatar_url"], "provider": doc["provider"],
		"created_at": doc["created_at"], "last_sign_in_at": doc["last_sign_in_at"]})
}

func (a *API) authJWKS(w http.ResponseWriter, r *http.Request) {
	set, err := a.auth.Tokens.JWKS(r.Context(), callerFrom(r.Context()).App)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, set)
}

// rotateSigningKey gives the app a new token signing key; tokens signed by
// the old one stay valid until they expire.
func (a *API) rotateSigningKey(w http.ResponseWriter, r *http.Request) {
	kid, err := a.auth.Tokens.Rotate(r.Context(), callerFrom(r.Context()).App)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kid": kid, "message": "Signing key rotated; the previous key verifies its tokens until they expire"})
}

// adminOutbox serves the dev outbox: the mails with codes that would have
// gone out over SMTP, newest first.
func (a *API) adminOutbox(w http.ResponseWriter, r *http.Request) {
	if !a.auth.DevOutbox {
		writeError(w, r, errf(http.StatusNotFound, "outbox_disabled", "The dev outbox is off: mail goes out over SMTP"))
		return
	}
	app, err := a.apps.ByID(r.Context(), mux.Vars(r)["app_id"])
	if err != nil {
		writeError(w, r, err)
		return
	}
	docs, err := a.reads.Find(r.Context(), projections.OutboxNS(app.ID), readstore.Find{Sort: []query.SortField{{Field: "_id", Desc: true}}, Limit: 100})
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(docs))
	for _, d := range docs {
		kind, _ := d["kind"].(string)
		uid, _ := d["user_id"].(string)
		sealed, _ := d["code_sealed"].(string)
		code, err := a.auth.Sealer.Open(sealed, commands.CodeSealContext(app.ID, uid, kind))
		if err != nil {
			continue // sealed under another master key
		}
		subject, text := mailer.Compose(app.Name, kind, string(code))
		out = append(out, map[string]any{"id": d["_id"], "to": d["to"], "subject": subject, "body": text, "kind": kind,
			"code": string(code), "created_at": d["created_at"], "expires_at": d["expires_at"]})
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

// urUser is the user object of the urBackend dialect.
func urUser(id, email, name any, verified any, created any) map[string]any {
	return map[string]any{"_id": id, "email": email, "name": name, "emailVerified": verified, "createdAt": created}
}

func (a *API) urSession(w http.ResponseWriter, r *http.Request, status int, s *commands.Session, err error, msg string) {
	if err != nil {
		writeError(w, r, err)
		return
	}
	access, ttl, err := a.auth.Tokens.Issue(r.Context(), callerFrom(r.Context()).App, s.User)
	if err != nil {
		writeError(w, r, err)
		return
	}
	u := s.User
	writeOK(w, r, status, map[string]any{"token": access, "accessToken": access, "refreshToken": s.RefreshToken, "expiresIn": ttl,
		"userId": u.ID, "user": urUser(u.ID, u.Email, nullIfEmpty(u.DisplayName), u.EmailVerified, u.CreatedAt)}, msg)
}

func (a *API) urSignup(w http.ResponseWriter, r *http.Request) {
	b, ok := a.body(w, r)
	if !ok {
		return
	}
	s, err := a.auth.Users.SignUp(r.Context(), meta(r), callerFrom(r.Context()).App, b.Email, b.Password, b.Name)
	a.urSession(w, r, http.StatusCreated, s, err, "User registered successfully. Please verify your email.")
}

func (a *API) urLogin(w http.ResponseWriter, r *http.Request) {
	b, ok := a.body(w, r)
	if !ok {
		return
	}
	s, err := a.auth.Users.Login(r.Context(), meta(r), callerFrom(r.Context()).App, b.Email, b.Password)
	a.urSession(w, r, http.StatusOK, s, err, "Login successful")
}

func (a *API) urMe(w http.ResponseWriter, r *http.Request) {
	doc, err := a.meDoc(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeOK(w, r, http.StatusOK, urUser(doc["_id"], doc["email"], doc["display_name"], doc["email_verified"], doc["created_at"]), "User fetched successfully")
}

// setAuthHooks sets or removes the post-auth hook. The answer carries the
// key the deliveries are signed with (derived from the master key, so it is
// stored nowhere).
func (a *API) setAuthHooks(w http.ResponseWriter, r *http.Request) {
	var body struct {
		PostAuthURL *string `json:"post_auth_url"`
	}
	if err := a.decodeJSON(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	url := ""
	if body.PostAuthURL != nil {
		url = *body.PostAuthURL
	}
	app, err := a.cmd.SetPostAuthURL(r.Context(), meta(r), callerFrom(r.Context()).App.ID, url)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := map[string]any{"app_id": app.ID, "post_auth_url": nullIfEmpty(app.PostAuthURL), "message": "Post-auth hook removed"}
	if app.PostAuthURL != "" {
		out["message"] = "Post-auth hook set"
		if a.auth.HookSecret != nil {
			out["signing_secret"] = a.auth.HookSecret(app.ID)
		}
	}
	writeJSON(w, http.StatusOK, out)
}
