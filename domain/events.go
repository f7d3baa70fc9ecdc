// Package domain holds the aggregates of eventbase (App, Admin, Collection,
// Document, User...), the events they emit and the rules that decide them.
// It is pure: no I/O, and time, ids and randomness come in as arguments, so
// every rule is a table test away.
package domain

// The event vocabulary: every type the log can hold, in one place. Names are
// past-tense facts in snake_case; the seed systems' names are kept.
const (
	// App and configuration.
	EventAppCreated           = "app_created"
	EventAppKeysRotated       = "app_keys_rotated"
	EventAccessModeChanged    = "access_mode_changed"
	EventJWTConfigChanged     = "jwt_config_changed"
	EventAuthHooksChanged     = "auth_hooks_changed"
	EventSiteURLChanged       = "site_url_changed"
	EventOAuthProviderChanged = "oauth_provider_changed"

	// Dashboard administrators (system stream, app "_system").
	EventAdminCreated       = "admin_created"
	EventAdminPasswordReset = "admin_password_reset"

	// Collections and documents.
	EventCollectionDefined = "collection_defined"
	EventDocumentCreated   = "document_created"
	EventDocumentUpdated   = "document_updated"
	EventDocumentDeleted   = "document_deleted"
	EventUniqueClaimed     = "unique_value_claimed"
	EventUniqueReleased    = "unique_value_released"

	// End-user auth.
	EventSignup                    = "signup"
	EventLogin                     = "login"
	EventLoginFailed               = "login_failed"
	EventMagicLinkRequested        = "magic_link_requested"
	EventMagicLinkLogin            = "magic_link_login"
	EventOAuthLogin                = "oauth_login"
	EventEmailVerificationSent     = "email_verification_sent"
	EventEmailVerified             = "email_verified"
	EventPasswordResetRequested    = "password_reset_requested"
	EventPasswordReset             = "password_reset"
	EventTokenRefreshed            = "token_refreshed"
	EventLogout                    = "logout"
	EventRefreshTokenReuseDetected = "refresh_token_reuse_detected"
	EventCodeRejected              = "code_rejected"
	EventSigningKeyCreated         = "signing_key_created"
	EventAuthHookDelivered         = "auth_hook_delivered"
	EventAuthHookFailed            = "auth_hook_failed"
)

// EventDeliveryClaimed records which node sends a side effect (mail, hook)
// when several nodes share a store.
const EventDeliveryClaimed = "delivery_claimed"

// DeliveryClaimedPayload is the payload of delivery_claimed.
type DeliveryClaimedPayload struct {
	Kind     string `json:"kind"`     // "mail" or "hook"
	Position int64  `json:"position"` // of the event whose side effect it is
	Node     string `json:"node"`
}

// SystemApp is the app id under which system-wide streams (admins) live.
const SystemApp = "_system"

// Vocabulary lists every event type with a one-line meaning, for the README
// and the audit API's type filter.
var Vocabulary = []struct{ Type, Meaning string }{
	{EventAppCreated, "an app was created with its publishable key and the hash of its secret key"},
	{EventAppKeysRotated, "the app's keys were replaced"},
	{EventAccessModeChanged, "the app's access mode became public or authenticated"},
	{EventJWTConfigChanged, "access/refresh token lifetimes changed"},
	{EventAuthHooksChanged, "the post-auth hook URL changed"},
	{EventSiteURLChanged, "the site URL changed"},
	{EventOAuthProviderChanged, "an OAuth provider was configured"},
	{EventDeliveryClaimed, "a node took on sending a mail or hook (multi-node)"},
	{EventAdminCreated, "a dashboard admin was created"},
	{EventAdminPasswordReset, "a dashboard admin's password was reset"},
	{EventCollectionDefined, "a collection's schema or RLS settings were defined"},
	{EventDocumentCreated, "a document was created"},
	{EventDocumentUpdated, "a document was merged (PATCH) or replaced (PUT)"},
	{EventDocumentDeleted, "a document was deleted"},
	{EventUniqueClaimed, "a value of a unique field was taken by a document"},
	{EventUniqueReleased, "a value of a unique field was freed"},
	{EventSignup, "an end user signed up"},
	{EventLogin, "an end user logged in with a password"},
	{EventLoginFailed, "a login attempt failed"},
	{EventMagicLinkRequested, "a magic-link code was sent"},
	{EventMagicLinkLogin, "an end user logged in with a magic-link code"},
	{EventOAuthLogin, "an end user logged in through an OAuth provider"},
	{EventEmailVerificationSent, "an e-mail verification code was sent"},
	{EventEmailVerified, "an end user's e-mail was verified"},
	{EventPasswordResetRequested, "a password reset code was sent"},
	{EventPasswordReset, "an end user's password was reset"},
	{EventTokenRefreshed, "a refresh token was rotated"},
	{EventLogout, "an end user logged out"},
	{EventRefreshTokenReuseDetected, "a rotated refresh token was presented again; its family was revoked"},
	{EventCodeRejected, "a wrong one-time code was presented (after 5, the outstanding codes of that kind die)"},
	{EventSigningKeyCreated, "a token signing key was created or rotated in (its private half sealed under the master key)"},
	{EventAuthHookDelivered, "the post-auth hook received a sign-in (2xx)"},
	{EventAuthHookFailed, "the post-auth hook could not be delivered after every retry"},
}
