// Package transport is the HTTP face of eventbase: routing (gorilla/mux),
// key, token and admin checks, access mode, rate limits, the request and
// response shapes of both API dialects (native and urBackend), and the one
// place where errors become status codes and messages. It holds no business
// rules: those live in domain and commands.
package transport

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/query"
)

// apiError is an error with its HTTP status, message and machine code.
type apiError struct {
	Status  int
	Code    string
	Message string
	// Detail is urBackend's longer sentence, which its clients see as
	// "error" on the wire; when empty Message is used.
	Detail string
	// URMessage, when set, replaces Message in the urBackend dialect
	// (the seeds document different texts for the same refusal).
	URMessage string
	// Details lists specifics (e.g. what a password lacks), sent as "details".
	Details any
}

func (e *apiError) Error() string { return e.Message }

func errf(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

// Common errors.
var (
	errNotFound       = errf(http.StatusNotFound, "not_found", "Not found")
	errMethod         = errf(http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
	errKeyMissing     = errf(http.StatusUnauthorized, "api_key_missing", "API key not found")
	errKeyInvalid     = errf(http.StatusUnauthorized, "api_key_invalid", "API key is expired or invalid.")
	errSecretRequired = errf(http.StatusForbidden, "secret_key_required", "This route needs the secret key or an admin token")
	errAdminRequired  = errf(http.StatusUnauthorized, "admin_required", "Admin authentication required")
	errTooLarge       = errf(http.StatusRequestEntityTooLarge, "payload_too_large", "Request body too large")
	errRateLimited    = errf(http.StatusTooManyRequests, "rate_limited", "Too many requests, please try again later.")
	errBadJSON        = &apiError{Status: http.StatusBadRequest, Code: "invalid_json", Message: "Invalid JSON format",
		Detail: "Check your request body syntax. Stray characters outside the JSON object are not allowed."}
)

// toAPIError maps any error to its HTTP form. It is the only place that does.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return errf(http.StatusBadRequest, "validation_error", ve.Message)
	}
	var acc *domain.AccessError
	if errors.As(err, &acc) {
		code := "forbidden"
		if acc.Status == http.StatusUnauthorized {
			code = "unauthorized"
		}
		return &apiError{Status: acc.Status, Code: code, Message: acc.Title, Detail: acc.Detail}
	}
	if ae := authAPIError(err); ae != nil {
		return ae
	}
	var ue *domain.UniqueError
	if errors.As(err, &ue) {
		return &apiError{Status: http.StatusConflict, Code: "unique_violation", Message: ue.Error()}
	}
	var qe *query.Error
	if errors.As(err, &qe) {
		return errf(http.StatusBadRequest, "invalid_query", qe.Error())
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge
	}
	switch {
	case errors.Is(err, domain.ErrCollectionNotFound):
		return errf(http.StatusNotFound, "collection_not_found", "Collection not found")
	case errors.Is(err, domain.ErrNotFound):
		return errNotFound
	case errors.Is(err, domain.ErrAlreadyExists):
		return errf(http.StatusConflict, "already_exists", "Already exists")
	case errors.Is(err, domain.ErrStaleVersion), errors.Is(err, eventstore.ErrConflict):
		return errf(http.StatusConflict, "version_conflict", "The resource was changed by another request; reload and retry")
	case errors.Is(err, eventstore.ErrUnavailable):
		return errf(http.StatusServiceUnavailable, "store_unavailable", "The data store is unavailable; retry shortly")
	}
	return errf(http.StatusInternalServerError, "internal_error", "Internal server error")
}

// isUrBackend reports whether the request is in the urBackend dialect, whose
// every body is {success, data, message}.
func isUrBackend(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/")
}

// writeError writes err in the request's dialect and logs server faults.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := toAPIError(err)
	if ae.Status >= 500 {
		slog.ErrorContext(r.Context(), "request failed", "err", err, "path", r.URL.Path, "request_id", requestID(r.Context()))
	}
	if isUrBackend(r) {
		// message (and error, which urBackend clients also read) carry the
		// documented text. Malformed JSON keeps urBackend's exact pair.
		msg, text := ae.Message, ae.Message
		if ae.Code == errBadJSON.Code && ae.Detail != "" {
			msg = ae.Detail
		}
		if ae.URMessage != "" {
			msg, text = ae.URMessage, ae.URMessage
		}
		writeJSON(w, ae.Status, map[string]any{"success": false, "data": map[string]any{}, "message": msg, "error": text, "code": ae.Status})
		return
	}
	body := map[string]any{"error": ae.Message, "code": ae.Code}
	if ae.Details != nil {
		body["details"] = ae.Details
	}
	writeJSON(w, ae.Status, body)
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeOK writes a success body: v itself in the native dialect, the
// {success, data, message} envelope in the urBackend dialect.
func writeOK(w http.ResponseWriter, r *http.Request, status int, v any, message string) {
	if isUrBackend(r) {
		writeJSON(w, status, map[string]any{"success": true, "data": v, "message": message})
		return
	}
	writeJSON(w, status, v)
}

// authAPIError maps the end-user auth rules (domain/user.go) and token
// checks; nil for other errors.
func authAPIError(err error) *apiError {
	var pe *domain.PasswordPolicyError
	if errors.As(err, &pe) {
		return &apiError{Status: http.StatusBadRequest, Code: "weak_password", Message: pe.Error(), Details: pe.Missing}
	}
	var ce *domain.CodeError
	if errors.As(err, &ce) {
		code := map[string]string{domain.CodeUsed: "code_used", domain.CodeExpired: "code_expired"}[ce.Reason]
		if code == "" {
			code = "invalid_code"
		}
		return errf(http.StatusBadRequest, code, ce.Error())
	}
	switch {
	case errors.Is(err, domain.ErrInvalidCredentials):
		return &apiError{Status: http.StatusUnauthorized, Code: "invalid_credentials", Message: "Invalid credentials", URMessage: "Invalid email or password"}
	case errors.Is(err, domain.ErrEmailTaken):
		return &apiError{Status: http.StatusConflict, Code: "user_exists", Message: "User already exists", URMessage: "User already exists with this email."}
	case errors.Is(err, domain.ErrRefreshTokenReused):
		return errf(http.StatusUnauthorized, "refresh_token_reused", "Invalid or expired refresh token")
	case errors.Is(err, domain.ErrInvalidRefreshToken):
		return errf(http.StatusUnauthorized, "invalid_refresh_token", "Invalid or expired refresh token")
	case errors.Is(err, domain.ErrUserNotFound):
		return errf(http.StatusNotFound, "user_not_found", "User not found")
	case errors.Is(err, errNoBearer):
		return &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "Missing or invalid Authorization header", URMessage: "Access Denied: No Token Provided"}
	case errors.Is(err, errBadBearer):
		return &apiError{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "Invalid token", URMessage: "Invalid or Expired Token"}
	}
	return nil
}
