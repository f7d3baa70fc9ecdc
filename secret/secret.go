// Package secret makes and checks the secrets eventbase hands out: API keys,
// ids, one-time codes, refresh tokens and password hashes. Only hashes of
// secrets are ever stored (DESIGN invariant 7).
package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Token returns prefix followed by n random bytes in unpadded base64url.
func Token(prefix string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("secret: crypto/rand failed: " + err.Error()) // the OS has no entropy: nothing is safe to do
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// HexID returns n random bytes as lower-case hex.
func HexID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// Code returns a random numeric code of the given number of digits.
func Code(digits int) string {
	max := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)
	n, err := rand.Int(rand.Reader, max)
	if err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	return fmt.Sprintf("%0*d", digits, n)
}

// Hash returns the SHA-256 of s in hex: for high-entropy secrets (keys,
// refresh tokens) that need lookup by hash, not slow hashing.
func Hash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// Equal compares two strings in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Argon2id parameters (RFC 9106's second recommended option, with memory
// lowered to 19 MiB as OWASP recommends for servers): stated in the README.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// HashPassword returns an argon2id hash in the PHC string format.
func HashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		panic("secret: crypto/rand failed: " + err.Error())
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// ErrMalformedHash is returned for a stored hash this package did not make.
var ErrMalformedHash = errors.New("secret: malformed password hash")

// CheckPassword reports whether password matches the argon2id hash.
func CheckPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformedHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, ErrMalformedHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, ErrMalformedHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false, ErrMalformedHash
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// DummyPasswordCheck spends the time of one CheckPassword, so that a login for
// an unknown e-mail takes as long as one with a wrong password.
func DummyPasswordCheck(password string) {
	_, _ = CheckPassword(dummyHash, password)
}

var dummyHash = HashPassword("dummy password for timing")
