package domain

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Access modes of an app.
const (
	AccessPublic        = "public"
	AccessAuthenticated = "authenticated"
)

// AppStream is the stream id of an app's own events, inside the app.
const AppStream = "app"

// App is the app aggregate: its keys and configuration.
type App struct {
	ID             string `json:"app_id"`
	Name           string `json:"name"`
	PublishableKey string `json:"publishable_key"`
	SecretKeyHash  string `json:"secret_key_hash"`
	AccessMode     string `json:"access_mode"`
	AccessTTL      string `json:"access_token_ttl"`
	RefreshDays    int    `json:"refresh_token_ttl_days"`
	PostAuthURL    string `json:"post_auth_url,omitempty"`
	SiteURL        string `json:"site_url,omitempty"`
	// MongoURISealed is the app's own MongoDB (credentials included),
	// sealed under the server's master key: set when the app brings its own
	// database, where its log and read models then live.
	MongoURISealed string    `json:"mongodb_uri_sealed,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	Version        int64     `json:"-"`
}

// AppCreatedPayload is the payload of app_created. The secret key itself is
// never in the log, only its hash; an own MongoDB URI only sealed.
type AppCreatedPayload struct {
	Name           string `json:"name"`
	PublishableKey string `json:"publishable_key"`
	SecretKeyHash  string `json:"secret_key_hash"`
	MongoURISealed string `json:"mongodb_uri_sealed,omitempty"`
}

// KeysRotatedPayload is the payload of app_keys_rotated.
type KeysRotatedPayload struct {
	PublishableKey string `json:"publishable_key"`
	SecretKeyHash  string `json:"secret_key_hash"`
}

// Change is an event decided by an aggregate, not yet appended.
type Change struct {
	Type    string
	Payload any
}

// MaxAppNameLen bounds app names.
const MaxAppNameLen = 100

// CreateApp decides the creation of an app. Keys are made by the caller
// (randomness stays out of the domain); only the secret key's hash enters the log.
func CreateApp(name, publishableKey, secretKeyHash, mongoURISealed string) ([]Change, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, Invalid("name", "app name is required")
	}
	if len(name) > MaxAppNameLen {
		return nil, Invalid("name", fmt.Sprintf("app name is longer than %d characters", MaxAppNameLen))
	}
	if !strings.HasPrefix(publishableKey, "pk_live_") || secretKeyHash == "" {
		return nil, Invalid("keys", "malformed keys")
	}
	return []Change{{EventAppCreated, AppCreatedPayload{Name: name, PublishableKey: publishableKey, SecretKeyHash: secretKeyHash, MongoURISealed: mongoURISealed}}}, nil
}

// AccessModePayload is the payload of access_mode_changed.
type AccessModePayload struct {
	AccessMode string `json:"access_mode"`
}

// SetAccessMode decides a change of access mode.
func (a *App) SetAccessMode(mode string) ([]Change, error) {
	if mode != AccessPublic && mode != AccessAuthenticated {
		return nil, Invalid("access_mode", `access_mode must be "public" or "authenticated"`)
	}
	return []Change{{EventAccessModeChanged, AccessModePayload{AccessMode: mode}}}, nil
}

// JWTConfigPayload is the payload of jwt_config_changed.
type JWTConfigPayload struct {
	AccessTTL   string `json:"access_token_ttl"`
	RefreshDays int    `json:"refresh_token_ttl_days"`
}

// AccessTTLs are the allowed access token lifetimes.
var AccessTTLs = map[string]time.Duration{
	"15m": 15 * time.Minute, "30m": 30 * time.Minute, "1h": time.Hour, "2h": 2 * time.Hour, "1d": 24 * time.Hour,
}

// SetJWTConfig decides a change of token lifetimes; zero values keep the current ones.
func (a *App) SetJWTConfig(accessTTL string, refreshDays int) ([]Change, error) {
	p := JWTConfigPayload{AccessTTL: a.AccessTTL, RefreshDays: a.RefreshDays}
	if accessTTL != "" {
		if _, ok := AccessTTLs[accessTTL]; !ok {
			return nil, Invalid("access_token_ttl", "access_token_ttl must be one of 15m, 30m, 1h, 2h, 1d")
		}
		p.AccessTTL = accessTTL
	}
	if refreshDays != 0 {
		if refreshDays < 1 || refreshDays > 365 {
			return nil, Invalid("refresh_token_ttl_days", "refresh_token_ttl_days must be between 1 and 365")
		}
		p.RefreshDays = refreshDays
	}
	return []Change{{EventJWTConfigChanged, p}}, nil
}

// URLPayload is the payload of auth_hooks_changed and site_url_changed.
type URLPayload struct {
	URL string `json:"url"`
}

// Apply evolves the app by one event.
func (a *App) Apply(typ string, payload json.RawMessage, at time.Time) error {
	switch typ {
	case EventAppCreated:
		var p AppCreatedPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		a.Name, a.PublishableKey, a.SecretKeyHash, a.MongoURISealed = p.Name, p.PublishableKey, p.SecretKeyHash, p.MongoURISealed
		a.AccessMode, a.AccessTTL, a.RefreshDays, a.CreatedAt = AccessPublic, "1h", 7, at
	case EventAppKeysRotated:
		var p KeysRotatedPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		a.PublishableKey, a.SecretKeyHash = p.PublishableKey, p.SecretKeyHash
	case EventAccessModeChanged:
		var p AccessModePayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		a.AccessMode = p.AccessMode
	case EventJWTConfigChanged:
		var p JWTConfigPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		a.AccessTTL, a.RefreshDays = p.AccessTTL, p.RefreshDays
	case EventAuthHooksChanged:
		var p URLPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		a.PostAuthURL = p.URL
	case EventSiteURLChanged:
		var p URLPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		a.SiteURL = p.URL
	}
	a.Version++
	return nil
}
