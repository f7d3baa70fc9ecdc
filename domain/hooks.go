package domain

import (
	"net/url"
	"strings"
)

// AuthHooksStream is the stream, inside an app, recording post-auth hook
// deliveries.
const AuthHooksStream = "auth-hooks"

// MaxHookURLLen bounds the post-auth hook URL.
const MaxHookURLLen = 2048

// SetPostAuthURL decides setting the post-auth hook URL ("" removes it).
func (a *App) SetPostAuthURL(raw string) ([]Change, error) {
	raw = strings.TrimSpace(raw)
	if raw != "" {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(raw) > MaxHookURLLen {
			return nil, Invalid("post_auth_url", "post_auth_url must be an absolute http or https URL")
		}
	}
	return []Change{{EventAuthHooksChanged, URLPayload{URL: raw}}}, nil
}

// Post-auth hook event names, as the receiver sees them.
const (
	HookSignup         = "signup"
	HookLogin          = "login"
	HookMagicLinkLogin = "magic_link_login"
	HookOAuthLogin     = "oauth_login"
)

// AuthHookPayload is the payload of auth_hook_delivered and auth_hook_failed.
type AuthHookPayload struct {
	EventPosition int64  `json:"event_position"`
	Event         string `json:"event"`
	UserID        string `json:"user_id"`
	URL           string `json:"url"`
	Status        int    `json:"status,omitempty"`
	Attempts      int    `json:"attempts"`
	Error         string `json:"error,omitempty"`
}
