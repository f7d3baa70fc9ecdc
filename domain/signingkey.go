package domain

import (
	"encoding/json"
	"time"
)

// SigningKeysStream is the stream, inside an app, of the keys that sign its
// end users' access tokens.
const SigningKeysStream = "signing-keys"

// SigningKeyPayload is the payload of signing_key_created: the public half
// in clear (RSA JWK members n and e), the private half sealed under the
// server's master key so a replay of the log rebuilds the key ring.
type SigningKeyPayload struct {
	Kid           string `json:"kid"`
	Alg           string `json:"alg"`
	N             string `json:"n"`
	E             string `json:"e"`
	PrivateSealed string `json:"private_key_sealed"`
}

// SigningKey is one key of an app's ring. A zero RetiredAt marks the key
// that signs; retired keys still verify the tokens they signed.
type SigningKey struct {
	SigningKeyPayload
	CreatedAt time.Time
	RetiredAt time.Time
}

// SigningKeys is an app's key ring, oldest first.
type SigningKeys struct {
	Keys    []SigningKey
	Version int64
}

// Current returns the signing key, or nil before the first one.
func (k *SigningKeys) Current() *SigningKey {
	if len(k.Keys) == 0 {
		return nil
	}
	return &k.Keys[len(k.Keys)-1]
}

// Add decides adding a key; it becomes the signing key and the previous one
// retires.
func (k *SigningKeys) Add(p SigningKeyPayload) ([]Change, error) {
	if p.Kid == "" || p.Alg == "" || p.N == "" || p.E == "" || p.PrivateSealed == "" {
		return nil, Invalid("key", "malformed signing key")
	}
	for _, old := range k.Keys {
		if old.Kid == p.Kid {
			return nil, ErrAlreadyExists
		}
	}
	return []Change{{EventSigningKeyCreated, p}}, nil
}

// Live returns the keys that may verify tokens at now: the current one and
// those retired less than retention ago (retention ≥ the longest token life).
func (k *SigningKeys) Live(now time.Time, retention time.Duration) []SigningKey {
	var out []SigningKey
	for _, key := range k.Keys {
		if key.RetiredAt.IsZero() || now.Sub(key.RetiredAt) < retention {
			out = append(out, key)
		}
	}
	return out
}

// Apply evolves the ring by one event.
func (k *SigningKeys) Apply(typ string, payload json.RawMessage, at time.Time) error {
	if typ == EventSigningKeyCreated {
		var p SigningKeyPayload
		if err := json.Unmarshal(payload, &p); err != nil {
			return err
		}
		if cur := k.Current(); cur != nil {
			cur.RetiredAt = at
		}
		k.Keys = append(k.Keys, SigningKey{SigningKeyPayload: p, CreatedAt: at})
	}
	k.Version++
	return nil
}
