package transport

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/projections"
	"github.com/eventbase/eventbase/secret"
	"github.com/gorilla/mux"
)

func (a *API) adminLogin(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := a.decodeJSON(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	bad := errf(http.StatusUnauthorized, "invalid_credentials", "Invalid email or password")
	email, err := domain.NormalizeEmail(body.Email)
	if err != nil {
		secret.DummyPasswordCheck(body.Password)
		writeError(w, r, bad)
		return
	}
	hash, err := projections.Admin(r.Context(), a.reads, email)
	if errors.Is(err, domain.ErrNotFound) {
		secret.DummyPasswordCheck(body.Password)
		writeError(w, r, bad)
		return
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	if ok, _ := secret.CheckPassword(hash, body.Password); !ok {
		writeError(w, r, bad)
		return
	}
	tok, ttl, err := a.issueAdminToken(email, time.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "token_type": "Bearer", "expires_in": ttl, "email": email})
}

// appView is the public shape of an app: never the secret key or its hash.
func appView(app *domain.App) map[string]any {
	return map[string]any{
		"app_id": app.ID, "name": app.Name, "publishable_key": app.PublishableKey,
		"access_mode": app.AccessMode, "access_token_ttl": app.AccessTTL, "refresh_token_ttl_days": app.RefreshDays,
		"post_auth_url": nullIfEmpty(app.PostAuthURL), "site_url": nullIfEmpty(app.SiteURL),
		"byo_mongodb": app.MongoURISealed != "", "created_at": app.CreatedAt,
	}
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (a *API) adminListApps(w http.ResponseWriter, r *http.Request) {
	apps, err := a.apps.List(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(apps))
	for _, app := range apps {
		out = append(out, appView(app))
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out})
}

func (a *API) adminCreateApp(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name string `json:"name"`
	}
	if err := a.decodeJSON(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	created, err := a.cmd.CreateApp(r.Context(), meta(r), body.Name, "")
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, created)
}

func (a *API) adminGetApp(w http.ResponseWriter, r *http.Request) {
	app, err := a.apps.ByID(r.Context(), mux.Vars(r)["app_id"])
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, appView(app))
}

func (a *API) adminRotateKeys(w http.ResponseWriter, r *http.Request) {
	created, err := a.cmd.RotateKeys(r.Context(), meta(r), mux.Vars(r)["app_id"])
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, created)
}

func (a *API) adminReplay(w http.ResponseWriter, r *http.Request) {
	appID := mux.Vars(r)["app_id"]
	if _, err := a.apps.ByID(r.Context(), appID); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := a.rebuild(r.Context(), appID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *API) setAccessMode(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AccessMode string `json:"access_mode"`
	}
	if err := a.decodeJSON(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	app, err := a.cmd.SetAccessMode(r.Context(), meta(r), callerFrom(r.Context()).App.ID, body.AccessMode)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "Access mode updated to \"" + app.AccessMode + "\"", "app_id": app.ID, "access_mode": app.AccessMode})
}

func (a *API) setJWTConfig(w http.ResponseWriter, r *http.Request) {
	var body struct {
		AccessTTL   string `json:"access_token_ttl"`
		RefreshDays int    `json:"refresh_token_ttl_days"`
	}
	if err := a.decodeJSON(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	app, err := a.cmd.SetJWTConfig(r.Context(), meta(r), callerFrom(r.Context()).App.ID, body.AccessTTL, body.RefreshDays)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"app_id": app.ID, "access_token_ttl": app.AccessTTL, "refresh_token_ttl_days": app.RefreshDays})
}

// audit serves the app's events in position order, secrets redacted.
func (a *API) audit(w http.ResponseWriter, r *http.Request) {
	qs := r.URL.Query()
	q := eventstore.Query{AppID: callerFrom(r.Context()).App.ID, Actor: qs.Get("actor"), StreamID: qs.Get("stream"), Limit: 100}
	if t := qs.Get("type"); t != "" {
		q.Types = strings.Split(t, ",")
	}
	var err error
	if v := qs.Get("after"); v != "" {
		if q.After, err = strconv.ParseInt(v, 10, 64); err != nil || q.After < 0 {
			writeError(w, r, errf(http.StatusBadRequest, "invalid_query", "after must be a non-negative integer position"))
			return
		}
	}
	if v := qs.Get("limit"); v != "" {
		if q.Limit, err = strconv.Atoi(v); err != nil || q.Limit < 1 || q.Limit > 1000 {
			writeError(w, r, errf(http.StatusBadRequest, "invalid_query", "limit must be between 1 and 1000"))
			return
		}
	}
	for name, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if v := qs.Get(name); v != "" {
			if *dst, err = time.Parse(time.RFC3339Nano, v); err != nil {
				writeError(w, r, errf(http.StatusBadRequest, "invalid_query", name+" must be an RFC 3339 time"))
				return
			}
		}
	}
	evs, err := a.events.Read(r.Context(), q)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]map[string]any, 0, len(evs))
	for _, e := range evs {
		out = append(out, auditView(e))
	}
	var next any
	if len(evs) == q.Limit {
		next = strconv.FormatInt(evs[len(evs)-1].Position, 10)
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": out, "next": next})
}

func auditView(e eventstore.Event) map[string]any {
	return map[string]any{
		"position": e.Position, "type": e.Type, "stream": e.StreamID, "version": e.Version,
		"actor": e.Actor, "request_id": e.RequestID, "time": e.Time, "payload": projections.Redact(e.Payload),
	}
}
