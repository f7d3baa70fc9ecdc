package transport

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/realtime"
	"github.com/eventbase/eventbase/secret"
	"github.com/golang-jwt/jwt/v5"
)

func (a *API) realtimeNative(w http.ResponseWriter, r *http.Request) {
	app, err := a.pathApp(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	a.hub.ServeWS(w, r, app.ID)
}

func (a *API) realtimeUrBackend(w http.ResponseWriter, r *http.Request) {
	a.hub.ServeWS(w, r, "")
}

// realtimeAuth checks WebSocket credentials with the same rules as HTTP.
type realtimeAuth struct{ a *API }

func refused(msg string) error { return &realtime.RefusedError{Reason: msg} }

// Authenticate implements realtime.Authenticator.
func (ra realtimeAuth) Authenticate(ctx context.Context, appID, apikey, token string) (*realtime.Principal, error) {
	a := ra.a
	var app *domain.App
	var err error
	switch {
	case appID != "":
		app, err = a.apps.ByID(ctx, appID)
	case strings.HasPrefix(apikey, "sk_live_"):
		app, err = a.apps.ByKey(ctx, "secret_key_hash", secret.Hash(apikey))
	case strings.HasPrefix(apikey, "pk_live_"):
		app, err = a.apps.ByKey(ctx, "publishable_key", apikey)
	case apikey == "":
		return nil, refused("API key not found")
	default:
		err = domain.ErrNotFound
	}
	if errors.Is(err, domain.ErrNotFound) {
		if appID != "" {
			return nil, refused("App not found")
		}
		return nil, refused("API key is expired or invalid.")
	}
	if err != nil {
		return nil, err
	}
	p := &realtime.Principal{AppID: app.ID, AccessMode: app.AccessMode}
	switch {
	case apikey == "":
	case strings.HasPrefix(apikey, "sk_live_") && secret.Equal(secret.Hash(apikey), app.SecretKeyHash):
		p.Privileged = true
	case strings.HasPrefix(apikey, "pk_live_") && secret.Equal(apikey, app.PublishableKey):
	default:
		return nil, refused("API key is expired or invalid.")
	}
	if token != "" {
		if a.tokens == nil {
			return nil, refused("invalid or expired token")
		}
		uid, err := a.tokens.Verify(ctx, app, token)
		if err != nil {
			return nil, refused("invalid or expired token")
		}
		p.UserID = uid
		var claims jwt.RegisteredClaims
		// Verified above; read exp so the hub can end the session on time.
		if _, _, err := jwt.NewParser().ParseUnverified(token, &claims); err == nil && claims.ExpiresAt != nil {
			p.Expires = claims.ExpiresAt.Time
		} else {
			p.Expires = time.Now().Add(time.Hour)
		}
	}
	return p, nil
}
