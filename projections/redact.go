package projections

import (
	"encoding/json"
	"strings"
)

// secretKeys are payload fields that never leave the server, even hashed.
// Payloads are built without plaintext secrets; this is the second guard.
func isSecretKey(k string) bool {
	k = strings.ToLower(k)
	switch k {
	case "password", "new_password", "code", "token", "refresh_token", "access_token", "secret", "secret_key", "client_secret", "mongodb_uri":
		return true
	}
	return strings.HasSuffix(k, "_hash") || strings.HasSuffix(k, "_sealed")
}

// Redact returns payload with every secret field removed, for audit output.
func Redact(payload json.RawMessage) any {
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		return nil
	}
	return redact(v)
}

func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if isSecretKey(k) {
				delete(t, k)
				continue
			}
			t[k] = redact(x)
		}
	case []any:
		for i, x := range t {
			t[i] = redact(x)
		}
	}
	return v
}
