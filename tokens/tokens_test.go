package tokens

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventbase/eventbase/commands"
	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/eventstore/sqlite"
	"github.com/eventbase/eventbase/secret"
	"github.com/golang-jwt/jwt/v5"
)

type clock struct{ t atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.t.Load()) }
func (c *clock) advance(d time.Duration) { c.t.Add(int64(d)) }
func newClock(t time.Time) *clock        { c := &clock{}; c.t.Store(t.UnixNano()); return c }
func sealer(t testing.TB, b byte) *secret.Sealer {
	s, err := secret.NewSealer(bytes.Repeat([]byte{b}, secret.MasterKeyLen))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type env struct {
	events eventstore.Store
	cmd    *commands.Service
	clock  *clock
	svc    *Service
}

func newEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{events: st, cmd: commands.New(st, nil), clock: newClock(time.Now())}
	e.cmd.Now = e.clock.now
	cfg.Now = e.clock.now
	e.svc = New(e.cmd, sealer(t, 1), cfg)
	return e
}

var (
	appA = &domain.App{ID: "app_a", AccessTTL: "1h"}
	appB = &domain.App{ID: "app_b", AccessTTL: "1h"}
	user = &domain.User{ID: "0123456789abcdef01234567", Email: "a@x.io", EmailVerified: true}
)

func TestIssueVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{PublicURL: "https://eb.example.com/"})
	ctx := context.Background()
	tok, ttl, err := e.svc.Issue(ctx, appA, user)
	if err != nil || ttl != 3600 {
		t.Fatalf("issue: %v %d", err, ttl)
	}
	var claims Claims
	parsed, _, err := jwt.NewParser().ParseUnverified(tok, &claims)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Header["alg"] != "RS256" || parsed.Header["kid"] == "" {
		t.Fatalf("header %v", parsed.Header)
	}
	if claims.Issuer != "https://eb.example.com/auth/app_a" || len(claims.Audience) != 1 || claims.Audience[0] != "app_a" ||
		claims.Subject != user.ID || claims.UserID != user.ID || claims.Email != "a@x.io" || claims.ID == "" ||
		claims.ExpiresAt.Sub(claims.IssuedAt.Time) != time.Hour {
		t.Fatalf("claims %+v", claims)
	}
	for i := 0; i < 2; i++ { // second time from the cache
		if uid, err := e.svc.Verify(ctx, appA, tok); err != nil || uid != user.ID {
			t.Fatalf("verify #%d: %q %v", i, uid, err)
		}
	}
	// Isolation: the token of app A is not one of app B, cached or not.
	if _, err := e.svc.Verify(ctx, appB, tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("app B accepted app A's token: %v", err)
	}
	fresh := New(e.cmd, sealer(t, 1), Config{PublicURL: "https://eb.example.com", Now: e.clock.now})
	if _, err := fresh.Verify(ctx, appB, tok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("app B (uncached) accepted app A's token: %v", err)
	}
	// A node that starts later rebuilds the keys from the log.
	if uid, err := fresh.Verify(ctx, appA, tok); err != nil || uid != user.ID {
		t.Fatalf("verify after rebuild: %v", err)
	}
	// Expiry, cached and uncached.
	e.clock.advance(time.Hour)
	if _, err := e.svc.Verify(ctx, appA, tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired (cached): %v", err)
	}
	fresh2 := New(e.cmd, sealer(t, 1), Config{PublicURL: "https://eb.example.com", Now: e.clock.now})
	if _, err := fresh2.Verify(ctx, appA, tok); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired (uncached): %v", err)
	}
}

func TestRejectsForgeries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	ctx := context.Background()
	good, _, err := e.svc.Issue(ctx, appA, user)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Issue(ctx, appB, user); err != nil {
		t.Fatal(err)
	}
	r, _ := e.svc.ring(ctx, "app_a", false)
	rb, _ := e.svc.ring(ctx, "app_b", false)
	now := e.clock.now()
	claims := func(mod func(*Claims)) Claims {
		c := Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: e.svc.Issuer("app_a"), Subject: user.ID, Audience: jwt.ClaimStrings{"app_a"},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), ID: "j"}, UserID: user.ID}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	sign := func(m jwt.SigningMethod, key any, kid string, c Claims) string {
		tk := jwt.NewWithClaims(m, c)
		if kid != "" {
			tk.Header["kid"] = kid
		}
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&r.signer.PublicKey)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"someone-else"}`)) + "." + parts[2]

	for name, tok := range map[string]string{
		"control (valid)":           sign(jwt.SigningMethodRS256, r.signer, r.signerKid, claims(nil)),
		"alg none":                  sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, r.signerKid, claims(nil)),
		"HS256 with the public key": sign(jwt.SigningMethodHS256, pubDER, r.signerKid, claims(nil)),
		"HS256 with a secret":       sign(jwt.SigningMethodHS256, []byte("secret"), r.signerKid, claims(nil)),
		"app B's key, app A's aud":  sign(jwt.SigningMethodRS256, rb.signer, rb.signerKid, claims(nil)),
		"app B's key under A's kid": sign(jwt.SigningMethodRS256, rb.signer, r.signerKid, claims(nil)),
		"unknown key":               sign(jwt.SigningMethodRS256, other, r.signerKid, claims(nil)),
		"no kid":                    sign(jwt.SigningMethodRS256, r.signer, "", claims(nil)),
		"wrong aud":                 sign(jwt.SigningMethodRS256, r.signer, r.signerKid, claims(func(c *Claims) { c.Audience = jwt.ClaimStrings{"app_b"} })),
		"wrong iss":                 sign(jwt.SigningMethodRS256, r.signer, r.signerKid, claims(func(c *Claims) { c.Issuer = "evil" })),
		"no exp":                    sign(jwt.SigningMethodRS256, r.signer, r.signerKid, claims(func(c *Claims) { c.ExpiresAt = nil })),
		"expired":                   sign(jwt.SigningMethodRS256, r.signer, r.signerKid, claims(func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Second)) })),
		"issued in the future":      sign(jwt.SigningMethodRS256, r.signer, r.signerKid, claims(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })),
		"userId differs from sub":   sign(jwt.SigningMethodRS256, r.signer, r.signerKid, claims(func(c *Claims) { c.UserID = "x" })),
		"tampered payload":          tampered,
		"garbage":                   "not.a.jwt",
		"empty":                     "",
	} {
		_, err := e.svc.Verify(ctx, appA, tok)
		if name == "control (valid)" {
			if err != nil {
				t.Errorf("control rejected: %v", err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{Retention: 2 * time.Hour})
	ctx := context.Background()
	app := &domain.App{ID: "app_r", AccessTTL: "1d"}
	t1, _, err := e.svc.Issue(ctx, app, user)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := e.svc.Rotate(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	t2, _, _ := e.svc.Issue(ctx, app, user)
	var c jwt.RegisteredClaims
	p2, _, _ := jwt.NewParser().ParseUnverified(t2, &c)
	if p2.Header["kid"] != kid {
		t.Fatalf("new tokens are not signed with the new key: %v vs %s", p2.Header["kid"], kid)
	}
	jwks, _ := e.svc.JWKS(ctx, app)
	if len(jwks.Keys) != 2 || jwks.Keys[1].Kid != kid || jwks.Keys[0].Kty != "RSA" || jwks.Keys[0].Alg != "RS256" || jwks.Keys[0].Use != "sig" {
		t.Fatalf("jwks after rotation %+v", jwks)
	}
	for i, tok := range []string{t1, t2} {
		if _, err := e.svc.Verify(ctx, app, tok); err != nil {
			t.Fatalf("token %d after rotation: %v", i+1, err)
		}
	}
	// Once the retention has passed the old key is gone.
	e.clock.advance(3 * time.Hour)
	fresh := New(e.cmd, sealer(t, 1), Config{Retention: 2 * time.Hour, Now: e.clock.now})
	if _, err := fresh.Verify(ctx, app, t1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("token of a retired key after retention: %v", err)
	}
	if _, err := fresh.Verify(ctx, app, t2); err != nil {
		t.Fatalf("current token: %v", err)
	}
	jwks, _ = fresh.JWKS(ctx, app)
	if len(jwks.Keys) != 1 || jwks.Keys[0].Kid != kid {
		t.Fatalf("jwks after retention %+v", jwks)
	}
	// Invalidate makes a node drop a ring whose app rotated elsewhere.
	other := New(e.cmd, sealer(t, 1), Config{Retention: 2 * time.Hour, Now: e.clock.now})
	if _, err := other.JWKS(ctx, app); err != nil {
		t.Fatal(err)
	}
	kid3, _ := e.svc.Rotate(ctx, app)
	evs, _ := e.events.ReadStream(ctx, app.ID, domain.SigningKeysStream, 2)
	other.Invalidate(evs)
	t3, _, _ := e.svc.Issue(ctx, app, user)
	if _, err := other.Verify(ctx, app, t3); err != nil {
		t.Fatalf("rotation on another node (kid %s) not picked up: %v", kid3, err)
	}
}

func TestPrivateKeysSealed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	ctx := context.Background()
	if _, _, err := e.svc.Issue(ctx, appA, user); err != nil {
		t.Fatal(err)
	}
	r, _ := e.svc.ring(ctx, appA.ID, false)
	d := r.signer.D.Bytes()
	evs, err := e.events.Read(ctx, eventstore.Query{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(d), base64.RawURLEncoding.EncodeToString(d), string(d)} {
			if bytes.Contains(ev.Payload, []byte(enc)) {
				t.Fatalf("private key in clear in event %s", ev.Type)
			}
		}
		if bytes.Contains(ev.Payload, []byte("PRIVATE")) {
			t.Fatal("PEM private key in the log")
		}
	}
	// Another master key cannot use the ring.
	wrong := New(e.cmd, sealer(t, 2), Config{})
	if _, _, err := wrong.Issue(ctx, appA, user); err == nil {
		t.Fatal("signed with a key sealed under another master key")
	}
}

func TestConcurrentFirstKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{})
	ctx := context.Background()
	// Several nodes (services) racing to create the first key: one wins.
	var wg sync.WaitGroup
	toks := make([]string, 8)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			svc := New(e.cmd, sealer(t, 1), Config{Now: e.clock.now})
			tok, _, err := svc.Issue(ctx, appA, user)
			if err != nil {
				t.Error(err)
			}
			toks[i] = tok
		}()
	}
	wg.Wait()
	k, _ := e.cmd.LoadSigningKeys(ctx, appA.ID)
	if len(k.Keys) != 1 {
		t.Fatalf("%d keys created", len(k.Keys))
	}
	for _, tok := range toks {
		if _, err := e.svc.Verify(ctx, appA, tok); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkVerify measures the hot path: a client presenting its token again.
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b, Config{})
	ctx := context.Background()
	tok, _, err := e.svc.Issue(ctx, appA, user)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.svc.Verify(ctx, appA, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyFirstSight measures a token never seen before: parse, claim
// checks and the ECDSA P-256 signature check.
func BenchmarkVerifyFirstSight(b *testing.B) {
	e := newEnv(b, Config{CacheSize: 1 << 30})
	ctx := context.Background()
	toks := make([]string, 2000)
	for i := range toks {
		var err error
		if toks[i], _, err = e.svc.Issue(ctx, appA, user); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%len(toks) == 0 {
			b.StopTimer()
			e.svc.vmu.Lock()
			clear(e.svc.verified)
			e.svc.vmu.Unlock()
			b.StartTimer()
		}
		if _, err := e.svc.Verify(ctx, appA, toks[i%len(toks)]); err != nil {
			b.Fatal(err)
		}
	}
}
