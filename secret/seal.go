package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// MasterKeyLen is the length of a server master key in bytes.
const MasterKeyLen = 32

// Sealer keeps secrets that must be recoverable (signing keys, one-time codes
// on their way to the mailer) out of the log in clear: it encrypts them with
// AES-256-GCM under a key derived from the server's master key. It also
// makes keyed hashes (HMAC-SHA256) of low-entropy secrets such as 6-digit
// codes, so a copy of the log alone cannot brute-force them.
type Sealer struct {
	aead   cipher.AEAD
	macKey []byte
}

// ErrUnseal is returned when a sealed value is malformed, was sealed under
// another master key, or was moved to another context.
var ErrUnseal = errors.New("secret: cannot open sealed value")

// NewSealer derives the encryption and MAC keys from a 32-byte master key.
func NewSealer(masterKey []byte) (*Sealer, error) {
	if len(masterKey) != MasterKeyLen {
		return nil, errors.New("secret: master key must be 32 bytes")
	}
	block, err := aes.NewCipher(derive(masterKey, "eventbase seal v1"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead, macKey: derive(masterKey, "eventbase mac v1")}, nil
}

// MasterKeyFromString turns a configured master key (EVENTBASE_MASTER_KEY,
// at least 32 characters) into key bytes.
func MasterKeyFromString(s string) ([]byte, error) {
	if len(s) < MasterKeyLen {
		return nil, errors.New("secret: master key must be at least 32 characters")
	}
	h := sha256.Sum256([]byte(s))
	return h[:], nil
}

func derive(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Seal encrypts plaintext for context (e.g. "signing-key|app_1|kid"): the
// context is authenticated, so a sealed value copied to another app or
// purpose does not open. The result is unpadded base64url.
func (s *Sealer) Seal(plaintext []byte, context string) string {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plaintext, []byte(context)))
}

// Open decrypts a value made by Seal with the same context.
func (s *Sealer) Open(sealed, context string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(raw) < s.aead.NonceSize()+s.aead.Overhead() {
		return nil, ErrUnseal
	}
	n := s.aead.NonceSize()
	out, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(context))
	if err != nil {
		return nil, ErrUnseal
	}
	return out, nil
}

// MAC returns the hex HMAC-SHA256 of parts joined by "|", under a key derived
// from the master key.
func (s *Sealer) MAC(parts ...string) string {
	m := hmac.New(sha256.New, s.macKey)
	m.Write([]byte(strings.Join(parts, "|")))
	return hex.EncodeToString(m.Sum(nil))
}
