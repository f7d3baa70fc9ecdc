// Package tokens issues and verifies end users' access tokens: JWTs signed
// with a per-app RS256 key (RSA 2048, header kid), published as the app's JWKS. Keys
// live in the log (domain.SigningKeysStream) with the private half sealed
// under the server's master key, so a replay rebuilds them and the log never
// holds them in clear. Rotation keeps retired keys verifying until every
// token they signed has expired.
//
// Verification is the hot path of every authenticated request: parsed
// public keys are cached per app, and tokens that verified once are
// remembered (by SHA-256, until their exp), so a client's repeated requests
// skip the ECDSA check.
package tokens

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/secret"
	"github.com/golang-jwt/jwt/v5"
)

// Alg is the one signature algorithm issued and accepted.
// Alg is the one signing algorithm: RS256, because an RSA-2048 signature
// verifies in about half the time of an ES256 one here (26 µs against
// 57 µs), and verification is on the path of every authenticated request.
const Alg = "RS256"

// Errors of Verify.
var (
	ErrInvalid = errors.New("tokens: invalid token")
	ErrExpired = errors.New("tokens: token expired")
)

// KeyStore loads and extends apps' key rings (commands.Service implements it).
type KeyStore interface {
	LoadSigningKeys(ctx context.Context, appID string) (*domain.SigningKeys, error)
	AddSigningKey(ctx context.Context, appID string, ring *domain.SigningKeys, p domain.SigningKeyPayload) error
}

// Config configures a Service.
type Config struct {
	// PublicURL is the server's external base URL; the issuer of an app's
	// tokens is PublicURL + "/auth/" + app id ("eventbase:app:<id>" without).
	PublicURL string
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Retention is how long a retired key keeps verifying: at least the
	// longest access-token lifetime. Default 24h plus 5 minutes.
	Retention time.Duration
	// CacheSize bounds the verified-token cache (default 100 000 entries of
	// about 100 bytes).
	CacheSize int
}

// Service issues and verifies access tokens. It implements
// transport.TokenVerifier.
type Service struct {
	store     KeyStore
	sealer    *secret.Sealer
	publicURL string
	now       func() time.Time
	retention time.Duration
	maxCached int

	mu     sync.RWMutex
	rings  map[string]*ring
	loadMu sync.Mutex // one ring load or key creation at a time

	vmu      sync.RWMutex
	verified map[[32]byte]verifiedToken
}

type ring struct {
	signer    *rsa.PrivateKey
	signerKid string
	keys      map[string]publicKey
	all       []domain.SigningKey
}

type publicKey struct {
	key       *rsa.PublicKey
	retiredAt time.Time
}

type verifiedToken struct {
	appID, userID string
	exp           time.Time
}

// New returns a Service.
func New(store KeyStore, sealer *secret.Sealer, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 24*time.Hour + 5*time.Minute
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 100_000
	}
	return &Service{store: store, sealer: sealer, publicURL: strings.TrimRight(cfg.PublicURL, "/"), now: cfg.Now,
		retention: cfg.Retention, maxCached: cfg.CacheSize, rings: map[string]*ring{}, verified: map[[32]byte]verifiedToken{}}
}

// Issuer returns the iss claim of the app's tokens.
func (s *Service) Issuer(appID string) string {
	if s.publicURL == "" {
		return "eventbase:app:" + appID
	}
	return s.publicURL + "/auth/" + appID
}

// Claims are the claims of an access token.
type Claims struct {
	jwt.RegisteredClaims
	UserID        string `json:"userId"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
}

// AccessTTL returns the app's access-token lifetime (default 1 h).
func AccessTTL(app *domain.App) time.Duration {
	if d, ok := domain.AccessTTLs[app.AccessTTL]; ok {
		return d
	}
	return time.Hour
}

// Issue signs an access token for the user and returns it with its lifetime
// in seconds. The app's first token creates its key.
func (s *Service) Issue(ctx context.Context, app *domain.App, u *domain.User) (string, int, error) {
	r, err := s.ring(ctx, app.ID, true)
	if err != nil {
		return "", 0, err
	}
	now := s.now()
	ttl := AccessTTL(app)
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.Issuer(app.ID), Subject: u.ID, Audience: jwt.ClaimStrings{app.ID},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(ttl)), ID: secret.HexID(12),
		},
		UserID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = r.signerKid
	signed, err := t.SignedString(r.signer)
	if err != nil {
		return "", 0, fmt.Errorf("tokens: sign: %w", err)
	}
	return signed, int(ttl.Seconds()), nil
}

// Verify checks an access token for the app and returns its user id: alg
// must be RS256, the kid one of the app's live keys, aud the app id, iss the
// app's issuer, and exp in the future.
func (s *Service) Verify(ctx context.Context, app *domain.App, token string) (string, error) {
	now := s.now()
	sum := sha256.Sum256([]byte(token))
	s.vmu.RLock()
	v, ok := s.verified[sum]
	s.vmu.RUnlock()
	if ok {
		switch {
		case v.appID != app.ID:
			return "", ErrInvalid
		case !now.Before(v.exp):
			return "", ErrExpired
		}
		return v.userID, nil
	}
	r, err := s.ring(ctx, app.ID, false)
	if err != nil {
		return "", err
	}
	var claims Claims
	_, err = jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := r.keys[kid]
		if !ok || (!k.retiredAt.IsZero() && now.Sub(k.retiredAt) >= s.retention) {
			return nil, ErrInvalid
		}
		return k.key, nil
	}, jwt.WithValidMethods([]string{Alg}), jwt.WithAudience(app.ID), jwt.WithIssuer(s.Issuer(app.ID)),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(s.now))
	if errors.Is(err, jwt.ErrTokenExpired) {
		return "", ErrExpired
	}
	if err != nil || claims.Subject == "" || claims.UserID != claims.Subject {
		return "", ErrInvalid
	}
	s.remember(sum, verifiedToken{appID: app.ID, userID: claims.Subject, exp: claims.ExpiresAt.Time})
	return claims.Subject, nil
}

func (s *Service) remember(sum [32]byte, v verifiedToken) {
	s.vmu.Lock()
	defer s.vmu.Unlock()
	if len(s.verified) >= s.maxCached {
		now := s.now()
		for k, old := range s.verified {
			if !now.Before(old.exp) {
				delete(s.verified, k)
			}
		}
		// Still full: drop about half, at random (map order).
		for k := range s.verified {
			if len(s.verified) < s.maxCached/2 {
				break
			}
			delete(s.verified, k)
		}
	}
	s.verified[sum] = v
}

// JWK is one public key of a JWKS document.
type JWK struct {
	Kty string `json:"kty"`
	N   string `json:"n"`
	E   string `json:"e"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS is a JSON Web Key Set.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWKS returns the app's live public keys (creating its first key, so a
// verifier that fetches the set before the first sign-in caches a usable one).
func (s *Service) JWKS(ctx context.Context, app *domain.App) (JWKS, error) {
	r, err := s.ring(ctx, app.ID, true)
	if err != nil {
		return JWKS{}, err
	}
	out := JWKS{Keys: []JWK{}}
	ring := domain.SigningKeys{Keys: r.all}
	for _, k := range ring.Live(s.now(), s.retention) {
		out.Keys = append(out.Keys, JWK{Kty: "RSA", N: k.N, E: k.E, Kid: k.Kid, Alg: k.Alg, Use: "sig"})
	}
	return out, nil
}

// Rotate gives the app a new signing key; the previous one retires and keeps
// verifying its tokens for the retention period. It returns the new kid.
func (s *Service) Rotate(ctx context.Context, app *domain.App) (string, error) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	var kid string
	for attempt := 0; attempt < 5; attempt++ {
		k, err := s.store.LoadSigningKeys(ctx, app.ID)
		if err != nil {
			return "", err
		}
		p, err := s.newKey(app.ID)
		if err != nil {
			return "", err
		}
		err = s.store.AddSigningKey(ctx, app.ID, k, p)
		if errors.Is(err, eventstore.ErrConflict) {
			continue
		}
		if err != nil {
			return "", err
		}
		kid = p.Kid
		break
	}
	s.drop(app.ID)
	if kid == "" {
		return "", eventstore.ErrConflict
	}
	return kid, nil
}

// Invalidate forgets the key rings of apps whose keys changed in evs, so
// every node picks up a rotation made anywhere. Register it with
// Runner.OnApplied.
func (s *Service) Invalidate(evs []eventstore.Event) {
	for _, e := range evs {
		if e.Type == domain.EventSigningKeyCreated {
			s.drop(e.AppID)
		}
	}
}

func (s *Service) drop(appID string) {
	s.mu.Lock()
	delete(s.rings, appID)
	s.mu.Unlock()
}

// ring returns the app's parsed keys, loading them from the log, and with
// create, making the first key.
func (s *Service) ring(ctx context.Context, appID string, create bool) (*ring, error) {
	s.mu.RLock()
	r := s.rings[appID]
	s.mu.RUnlock()
	if r != nil && (r.signer != nil || !create) {
		return r, nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.mu.RLock()
	r = s.rings[appID]
	s.mu.RUnlock()
	if r != nil && (r.signer != nil || !create) {
		return r, nil
	}
	for attempt := 0; ; attempt++ {
		k, err := s.store.LoadSigningKeys(ctx, appID)
		if err != nil {
			return nil, err
		}
		if k.Current() == nil && create {
			p, err := s.newKey(appID)
			if err != nil {
				return nil, err
			}
			err = s.store.AddSigningKey(ctx, appID, k, p)
			if errors.Is(err, eventstore.ErrConflict) && attempt < 5 {
				continue // another node made the first key: use it
			}
			if err != nil {
				return nil, err
			}
			continue
		}
		if r, err = s.parse(appID, k); err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.rings[appID] = r
		s.mu.Unlock()
		return r, nil
	}
}

func sealContext(appID, kid string) string { return "signing-key|" + appID + "|" + kid }

func (s *Service) newKey(appID string) (domain.SigningKeyPayload, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return domain.SigningKeyPayload{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return domain.SigningKeyPayload{}, err
	}
	kid := secret.HexID(8)
	enc := base64.RawURLEncoding
	return domain.SigningKeyPayload{Kid: kid, Alg: Alg,
		N: enc.EncodeToString(priv.N.Bytes()), E: enc.EncodeToString(big.NewInt(int64(priv.E)).Bytes()),
		PrivateSealed: s.sealer.Seal(der, sealContext(appID, kid))}, nil
}

func (s *Service) parse(appID string, k *domain.SigningKeys) (*ring, error) {
	r := &ring{keys: map[string]publicKey{}, all: k.Keys}
	enc := base64.RawURLEncoding
	for _, key := range k.Keys {
		n, err1 := enc.DecodeString(key.N)
		e, err2 := enc.DecodeString(key.E)
		if err1 != nil || err2 != nil || key.Alg != Alg || len(n) < 256 || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("tokens: malformed key %s of app %s", key.Kid, appID)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		r.keys[key.Kid] = publicKey{key: pub, retiredAt: key.RetiredAt}
	}
	if cur := k.Current(); cur != nil {
		der, err := s.sealer.Open(cur.PrivateSealed, sealContext(appID, cur.Kid))
		if err != nil {
			return nil, fmt.Errorf("tokens: cannot open the signing key of app %s (was the master key changed?): %w", appID, err)
		}
		key, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, err
		}
		priv, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("tokens: signing key of app %s is not RSA", appID)
		}
		r.signer, r.signerKid = priv, cur.Kid
	}
	return r, nil
}
