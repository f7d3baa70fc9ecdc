package server_test

import (
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/internal/mongotest"
	"github.com/eventbase/eventbase/server"
	"github.com/golang-jwt/jwt/v5"
)

// authTests run on every store: TestAuthEmbedded (SQLite) and TestAuthMongoDB.
var authTests = []struct {
	name string
	fn   func(t *testing.T, store server.Config)
}{
	{"PasswordFlow", testAuthPasswordFlow},
	{"SignupErrors", testAuthSignupErrors},
	{"ConcurrentSignupsOneEmail", testAuthConcurrentSignupsOneEmail},
	{"MagicLink", testAuthMagicLink},
	{"VerifyEmailAndPasswordReset", testAuthVerifyEmailAndPasswordReset},
	{"TokensAcrossAppsTTLRotationAndRestart", testAuthTokensAcrossAppsTTLRotationAndRestart},
	{"UrBackendDialect", testAuthUrBackendDialect},
	{"RateLimits", testAuthRateLimits},
	{"OutboxNeedsAdmin", testAuthOutboxNeedsAdmin},
	{"PostAuthHook", testAuthPostAuthHook},
}

// onStore puts cfg on the store of the run (a fresh MongoDB database each).
func onStore(store, cfg server.Config) server.Config {
	if store.MongoURI != "" {
		cfg.MongoURI, cfg.MongoDB = store.MongoURI, mongotest.DBName("auth")
	}
	return cfg
}

func TestAuthEmbedded(t *testing.T) {
	for _, at := range authTests {
		t.Run(at.name, func(t *testing.T) {
			t.Parallel()
			at.fn(t, server.Config{})
		})
	}
}

func TestAuthMongoDB(t *testing.T) {
	store := server.Config{MongoURI: mongotest.URI(t)}
	for _, at := range authTests {
		t.Run(at.name, func(t *testing.T) { at.fn(t, store) })
	}
}

const goodPassword = "Sup3r-secret!"

// testClock is a clock tests can move forward (set in server.Config.Now
// before the node starts).
type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

func authPath(app ebtest.App, route string) string { return "/auth/" + app.AppID + route }

func signup(t *testing.T, s *ebtest.Server, app ebtest.App, email string) *ebtest.Response {
	t.Helper()
	return s.Do(t, "POST", authPath(app, "/signup"), nil, map[string]any{"email": email, "password": goodPassword, "display_name": "Ann"})
}

func bearerH(tok string) ebtest.H { return ebtest.H{"Authorization": "Bearer " + tok} }

// outboxCode returns the newest code of kind sent to email, from the dev outbox.
func outboxCode(t *testing.T, s *ebtest.Server, app ebtest.App, email, kind string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res := s.Do(t, "GET", "/admin/v1/apps/"+app.AppID+"/outbox", bearerH(s.AdminToken(t)), nil).Status(t, 200)
		for _, m := range res.Body["data"].([]any) {
			m := m.(map[string]any)
			if m["to"] == email && m["kind"] == kind {
				code := m["code"].(string)
				if len(code) != 6 || !strings.Contains(m["body"].(string), code) {
					t.Fatalf("outbox entry %v", m)
				}
				return code
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s code for %s in the outbox: %s", kind, email, res.Raw)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkLoginShape checks the documented login shape and returns its tokens.
func checkLoginShape(t *testing.T, res *ebtest.Response, email string, verified bool) (access, refresh string) {
	t.Helper()
	b := res.Body
	u, _ := b["user"].(map[string]any)
	if b["token_type"] != "Bearer" || b["expires_in"] != 3600.0 || u == nil || u["email"] != email || u["email_verified"] != verified ||
		len(u["id"].(string)) != 24 || !hasKeys(u, "display_name", "avatar_url") {
		t.Fatalf("login shape: %s", res.Raw)
	}
	return res.String(t, "access_token"), res.String(t, "refresh_token")
}

func hasKeys(m map[string]any, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

func testAuthPasswordFlow(t *testing.T, store server.Config) {
	s := ebtest.Start(t, onStore(store, server.Config{PublicURL: "https://eb.example.com"}))
	app := s.CreateApp(t, "auth")

	res := signup(t, s, app, "  Ann@Example.COM ").Status(t, 201)
	access, refresh := checkLoginShape(t, res, "ann@example.com", false)
	if res.Body["user"].(map[string]any)["display_name"] != "Ann" {
		t.Fatalf("display name: %s", res.Raw)
	}

	// The access token verifies with the published JWKS, and carries the claims.
	jwks := s.Do(t, "GET", authPath(app, "/.well-known/jwks.json"), nil, nil).Status(t, 200)
	if cc := jwks.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=300") {
		t.Fatalf("Cache-Control %q", cc)
	}
	var claims jwt.MapClaims
	tok, err := jwt.ParseWithClaims(access, &claims, func(tk *jwt.Token) (any, error) {
		for _, k := range jwks.Body["keys"].([]any) {
			k := k.(map[string]any)
			if k["kid"] == tk.Header["kid"] && k["kty"] == "RSA" && k["alg"] == "RS256" && k["use"] == "sig" {
				n, _ := base64.RawURLEncoding.DecodeString(k["n"].(string))
				e, _ := base64.RawURLEncoding.DecodeString(k["e"].(string))
				return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}, nil
			}
		}
		return nil, fmt.Errorf("kid %v not in JWKS %s", tk.Header["kid"], jwks.Raw)
	}, jwt.WithValidMethods([]string{"RS256"}))
	if err != nil || !tok.Valid {
		t.Fatalf("token does not verify with the JWKS: %v", err)
	}
	uid := res.Body["user"].(map[string]any)["id"]
	if claims["iss"] != "https://eb.example.com/auth/"+app.AppID || claims["sub"] != uid || claims["userId"] != uid ||
		claims["email"] != "ann@example.com" || !hasKeys(claims, "iat", "exp", "jti") {
		t.Fatalf("claims %v", claims)
	}
	if aud, _ := claims.GetAudience(); len(aud) != 1 || aud[0] != app.AppID {
		t.Fatalf("aud %v", claims["aud"])
	}

	me := s.Do(t, "GET", authPath(app, "/me"), bearerH(access), nil).Status(t, 200)
	if me.Body["id"] != uid || me.Body["email"] != "ann@example.com" || me.Body["provider"] != "email" ||
		!hasKeys(me.Body, "email_verified", "display_name", "avatar_url", "created_at", "last_sign_in_at") ||
		strings.Contains(string(me.Raw), "hash") {
		t.Fatalf("me %s", me.Raw)
	}
	s.Do(t, "GET", authPath(app, "/me"), nil, nil).Error(t, 401, "Missing or invalid Authorization header")
	s.Do(t, "GET", authPath(app, "/me"), bearerH("garbage"), nil).Error(t, 401, "Invalid token")

	// Login: wrong password and unknown e-mail get the same 401, in similar time.
	login := func(email, pw string) *ebtest.Response {
		return s.Do(t, "POST", authPath(app, "/login"), nil, map[string]any{"email": email, "password": pw})
	}
	start := time.Now()
	login("ann@example.com", "Wrong-pass1!").Error(t, 401, "Invalid credentials")
	wrongPw := time.Since(start)
	start = time.Now()
	login("nobody@example.com", "Wrong-pass1!").Error(t, 401, "Invalid credentials")
	unknown := time.Since(start)
	if unknown < wrongPw/4 {
		t.Errorf("unknown e-mail answered much faster (%v) than a wrong password (%v)", unknown, wrongPw)
	}
	login("not-an-email", "x").Error(t, 401, "Invalid credentials")
	res = login("ANN@example.com", goodPassword).Status(t, 200)
	_, refresh2 := checkLoginShape(t, res, "ann@example.com", false)

	// Refresh rotates: the new pair works, the old refresh token is dead.
	refreshReq := func(rt string) *ebtest.Response {
		return s.Do(t, "POST", authPath(app, "/refresh"), nil, map[string]any{"refresh_token": rt})
	}
	r1 := refreshReq(refresh).Status(t, 200)
	if r1.Body["token_type"] != "Bearer" || r1.Body["expires_in"] != 3600.0 || r1.String(t, "refresh_token") == refresh {
		t.Fatalf("refresh %s", r1.Raw)
	}
	s.Do(t, "GET", authPath(app, "/me"), bearerH(r1.String(t, "access_token")), nil).Status(t, 200)
	r2 := refreshReq(r1.String(t, "refresh_token")).Status(t, 200)
	// Reuse of a rotated token revokes the whole family: its newest token dies too.
	refreshReq(refresh).Error(t, 401, "Invalid or expired refresh token")
	refreshReq(r2.String(t, "refresh_token")).Error(t, 401, "Invalid or expired refresh token")
	refreshReq("nonsense").Error(t, 401, "Invalid or expired refresh token")
	refreshReq("").Error(t, 401, "Invalid or expired refresh token")
	// The other family (the login's) is untouched.
	r3 := refreshReq(refresh2).Status(t, 200)

	// Logout needs the bearer and ends every family.
	s.Do(t, "POST", authPath(app, "/logout"), nil, nil).Error(t, 401, "Missing or invalid Authorization header")
	s.Do(t, "POST", authPath(app, "/logout"), bearerH("x.y.z"), nil).Error(t, 401, "Invalid token")
	out := s.Do(t, "POST", authPath(app, "/logout"), bearerH(access), nil).Status(t, 200)
	if out.Body["message"] != "Logged out successfully" {
		t.Fatalf("logout %s", out.Raw)
	}
	refreshReq(r3.String(t, "refresh_token")).Error(t, 401, "Invalid or expired refresh token")

	// The audit log has the auth events, with no secret in them.
	audit := s.Do(t, "GET", "/v1/"+app.AppID+"/audit?limit=1000", ebtest.H{"x-api-key": app.SecretKey}, nil).Status(t, 200)
	for _, typ := range []string{"signup", "email_verification_sent", "login", "login_failed", "token_refreshed", "refresh_token_reuse_detected", "logout", "signing_key_created"} {
		if !strings.Contains(string(audit.Raw), `"type":"`+typ+`"`) {
			t.Errorf("audit has no %s event", typ)
		}
	}
	for _, leak := range []string{"hash", "sealed", goodPassword, refresh, "argon2"} {
		if strings.Contains(string(audit.Raw), leak) {
			t.Errorf("audit output contains %q", leak)
		}
	}
	// Nor does the log on disk hold passwords or refresh tokens in clear.
	if store.MongoURI == "" {
		raw, err := os.ReadFile(filepath.Join(s.Config.DataDir, "events.db"))
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range []string{goodPassword, refresh, refresh2, r1.String(t, "refresh_token")} {
			if strings.Contains(string(raw), leak) {
				t.Errorf("events.db contains a secret in clear: %q", leak[:8])
			}
		}
	}
}

func testAuthSignupErrors(t *testing.T, store server.Config) {
	s := ebtest.Start(t, onStore(store, server.Config{}))
	app := s.CreateApp(t, "signup-errors")
	post := func(body any) *ebtest.Response { return s.Do(t, "POST", authPath(app, "/signup"), nil, body) }

	weak := post(map[string]any{"email": "w@example.com", "password": "abc"})
	weak.Error(t, 400, "Password does not meet requirements. Must be at least 8 characters and include: uppercase letter, lowercase letter, number, and special character.")
	want := []any{"Password must be at least 8 characters", "Password must contain at least one uppercase letter",
		"Password must contain at least one number", "Password must contain at least one special character"}
	if !reflect.DeepEqual(weak.Body["details"], want) {
		t.Fatalf("details %v", weak.Body["details"])
	}
	post(map[string]any{"email": "not an email", "password": goodPassword}).Error(t, 400, "email is not a valid address")
	post(map[string]any{"password": goodPassword}).Error(t, 400, "email is required")
	post(`{"email": `).Error(t, 400, "Invalid JSON format")
	signup(t, s, app, "dup@example.com").Status(t, 201)
	signup(t, s, app, " DUP@example.com").Error(t, 409, "User already exists")
	// A weak password is refused before the duplicate check reveals anything.
	post(map[string]any{"email": "dup@example.com", "password": "weak"}).Status(t, 400)
	// The same address is free in another app.
	signup(t, s, s.CreateApp(t, "other"), "dup@example.com").Status(t, 201)
	s.Do(t, "POST", "/auth/app_doesnotexist/signup", nil, map[string]any{"email": "a@example.com", "password": goodPassword}).Error(t, 404, "App not found")
	s.Do(t, "GET", "/auth/app_doesnotexist/.well-known/jwks.json", nil, nil).Error(t, 404, "App not found")
	s.Do(t, "GET", authPath(app, "/signup"), nil, nil).Status(t, 405)
}

func testAuthConcurrentSignupsOneEmail(t *testing.T, store server.Config) {
	s := ebtest.Start(t, onStore(store, server.Config{}))
	app := s.CreateApp(t, "race")
	var wg sync.WaitGroup
	codes := make([]int, 50)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := "race@example.com"
			if i%2 == 1 {
				email = " Race@Example.com" // normalised to the same address
			}
			codes[i] = s.Do(t, "POST", authPath(app, "/signup"), nil, map[string]any{"email": email, "password": goodPassword}).Code
		}()
	}
	wg.Wait()
	n := map[int]int{}
	for _, c := range codes {
		n[c]++
	}
	if n[201] != 1 || n[409] != 49 {
		t.Fatalf("statuses %v, want one 201 and 49 409", n)
	}
	s.Do(t, "POST", authPath(app, "/login"), nil, map[string]any{"email": "race@example.com", "password": goodPassword}).Status(t, 200)
}

func testAuthMagicLink(t *testing.T, store server.Config) {
	clock := &testClock{}
	s := ebtest.Start(t, onStore(store, server.Config{Now: clock.Now}))
	app := s.CreateApp(t, "magic")
	send := func(email string) *ebtest.Response {
		return s.Do(t, "POST", authPath(app, "/magic-link"), nil, map[string]any{"email": email})
	}
	verify := func(email, code string) *ebtest.Response {
		return s.Do(t, "POST", authPath(app, "/magic-link/verify"), nil, map[string]any{"email": email, "code": code})
	}
	signup(t, s, app, "known@example.com").Status(t, 201)
	a := send("new@example.com").Status(t, 200)
	b := send("known@example.com").Status(t, 200)
	if string(a.Raw) != string(b.Raw) || a.Body["message"] != "If an account exists with that email, a sign-in code has been sent" {
		t.Fatalf("answers differ or wrong: %s / %s", a.Raw, b.Raw)
	}
	code := outboxCode(t, s, app, "new@example.com", "magic_link")
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	verify("new@example.com", wrong).Error(t, 400, "Invalid sign-in code")
	verify("new@example.com", "12ab").Error(t, 400, "Invalid sign-in code")
	verify("stranger@example.com", code).Error(t, 400, "Invalid sign-in code")
	res := verify("New@Example.com", code).Status(t, 200)
	access, _ := checkLoginShape(t, res, "new@example.com", true)
	me := s.Do(t, "GET", authPath(app, "/me"), bearerH(access), nil).Status(t, 200)
	if me.Body["email_verified"] != true || me.Body["provider"] != "magic_link" {
		t.Fatalf("me after magic link %s", me.Raw)
	}
	verify("new@example.com", code).Error(t, 400, "Sign-in code already used")
	// A magic-link user has no password to log in with.
	s.Do(t, "POST", authPath(app, "/login"), nil, map[string]any{"email": "new@example.com", "password": goodPassword}).Error(t, 401, "Invalid credentials")

	// Expiry after 15 minutes.
	send("new@example.com").Status(t, 200)
	code2 := outboxCode(t, s, app, "new@example.com", "magic_link")
	clock.Advance(16 * time.Minute)
	verify("new@example.com", code2).Error(t, 400, "Sign-in code expired")

	// Five wrong codes kill the outstanding one.
	send("known@example.com").Status(t, 200)
	code3 := outboxCode(t, s, app, "known@example.com", "magic_link")
	for i := 0; i < 5; i++ {
		bad := fmt.Sprintf("%06d", i)
		if bad == code3 {
			bad = "999999"
		}
		verify("known@example.com", bad).Error(t, 400, "Invalid sign-in code")
	}
	verify("known@example.com", code3).Error(t, 400, "Sign-in code expired")
}

func testAuthVerifyEmailAndPasswordReset(t *testing.T, store server.Config) {
	clock := &testClock{}
	s := ebtest.Start(t, onStore(store, server.Config{Now: clock.Now}))
	app := s.CreateApp(t, "reset")
	res := signup(t, s, app, "ann@example.com").Status(t, 201)
	_, oldRefresh := checkLoginShape(t, res, "ann@example.com", false)
	post := func(route string, body map[string]any) *ebtest.Response {
		return s.Do(t, "POST", authPath(app, route), nil, body)
	}

	// verify-email with the 24 h code sent at signup.
	vcode := outboxCode(t, s, app, "ann@example.com", "email_verify")
	post("/verify-email", map[string]any{"email": "ann@example.com", "code": "12345x"}).Error(t, 400, "Invalid verification code")
	ok := post("/verify-email", map[string]any{"email": "ann@example.com", "code": vcode}).Status(t, 200)
	if ok.Body["message"] != "Email verified successfully" {
		t.Fatalf("verify-email %s", ok.Raw)
	}
	post("/verify-email", map[string]any{"email": "ann@example.com", "code": vcode}).Error(t, 400, "Verification code already used")
	login := post("/login", map[string]any{"email": "ann@example.com", "password": goodPassword}).Status(t, 200)
	checkLoginShape(t, login, "ann@example.com", true)

	// forgot-password answers the same whether or not the user exists.
	f1 := post("/forgot-password", map[string]any{"email": "ann@example.com"}).Status(t, 200)
	f2 := post("/forgot-password", map[string]any{"email": "ghost@example.com"}).Status(t, 200)
	if string(f1.Raw) != string(f2.Raw) || f1.Body["message"] != "If an account exists with that email, a password reset code has been sent" {
		t.Fatalf("forgot answers %s / %s", f1.Raw, f2.Raw)
	}
	rcode := outboxCode(t, s, app, "ann@example.com", "password_reset")
	reset := func(code, pw string) *ebtest.Response {
		return post("/reset-password", map[string]any{"email": "ann@example.com", "code": code, "new_password": pw})
	}
	// A weak password is refused without burning the code.
	reset(rcode, "weak").Status(t, 400)
	reset("000000", "N3w-password!").Error(t, 400, "Invalid reset code")
	post("/reset-password", map[string]any{"email": "ghost@example.com", "code": rcode, "new_password": "N3w-password!"}).Error(t, 400, "Invalid reset code")
	done := reset(rcode, "N3w-password!").Status(t, 200)
	if done.Body["message"] != "Password reset successfully" {
		t.Fatalf("reset %s", done.Raw)
	}
	reset(rcode, "N3w-password!").Error(t, 400, "Reset code already used")
	// Every session ended; the old password is dead, the new one works.
	post("/refresh", map[string]any{"refresh_token": oldRefresh}).Error(t, 401, "Invalid or expired refresh token")
	post("/refresh", map[string]any{"refresh_token": login.String(t, "refresh_token")}).Error(t, 401, "Invalid or expired refresh token")
	post("/login", map[string]any{"email": "ann@example.com", "password": goodPassword}).Error(t, 401, "Invalid credentials")
	post("/login", map[string]any{"email": "ann@example.com", "password": "N3w-password!"}).Status(t, 200)

	// Codes expire: reset after 1 h, verification after 24 h.
	post("/forgot-password", map[string]any{"email": "ann@example.com"}).Status(t, 200)
	rcode2 := outboxCode(t, s, app, "ann@example.com", "password_reset")
	clock.Advance(61 * time.Minute)
	reset(rcode2, "An0ther-pass!").Error(t, 400, "Reset code expired")
	signup(t, s, app, "late@example.com").Status(t, 201)
	lcode := outboxCode(t, s, app, "late@example.com", "email_verify")
	clock.Advance(24 * time.Hour)
	post("/verify-email", map[string]any{"email": "late@example.com", "code": lcode}).Error(t, 400, "Verification code expired")
}

func testAuthTokensAcrossAppsTTLRotationAndRestart(t *testing.T, store server.Config) {
	clock := &testClock{}
	s := ebtest.Start(t, onStore(store, server.Config{Now: clock.Now}))
	appA, appB := s.CreateApp(t, "a"), s.CreateApp(t, "b")
	resA := signup(t, s, appA, "ann@example.com").Status(t, 201)
	accessA, refreshA := checkLoginShape(t, resA, "ann@example.com", false)
	accessB, _ := checkLoginShape(t, signup(t, s, appB, "ann@example.com").Status(t, 201), "ann@example.com", false)

	// A token of app A is rejected by app B everywhere.
	s.Do(t, "GET", authPath(appB, "/me"), bearerH(accessA), nil).Error(t, 401, "Invalid token")
	s.Do(t, "POST", authPath(appB, "/logout"), bearerH(accessA), nil).Error(t, 401, "Invalid token")
	s.Do(t, "POST", authPath(appB, "/refresh"), nil, map[string]any{"refresh_token": refreshA}).Error(t, 401, "Invalid or expired refresh token")
	// On app B's data API, A's token counts as no user at all.
	s.Do(t, "PUT", "/v1/"+appB.AppID+"/config/collections/notes", ebtest.H{"x-api-key": appB.SecretKey},
		map[string]any{"fields": []any{}, "rls": map[string]any{"enabled": true, "mode": "private", "owner_field": "userId"}}).Status(t, 200)
	s.Do(t, "GET", "/v1/"+appB.AppID+"/notes", ebtest.H{"x-api-key": appB.PublishableKey, "Authorization": "Bearer " + accessA}, nil).Error(t, 401, "Authentication required")
	s.Do(t, "POST", "/v1/"+appB.AppID+"/notes", ebtest.H{"x-api-key": appB.PublishableKey, "Authorization": "Bearer " + accessA}, map[string]any{"t": 1}).Error(t, 401, "Authentication required")
	// B's own user token is a user there: RLS fills the owner and scopes reads.
	own := s.Do(t, "POST", "/v1/"+appB.AppID+"/notes", ebtest.H{"x-api-key": appB.PublishableKey, "Authorization": "Bearer " + accessB}, map[string]any{"t": 1}).Status(t, 201)
	if own.Body["userId"] == nil || own.Body["userId"] == "" {
		t.Fatalf("owner not set from the token: %s", own.Raw)
	}
	list := s.Do(t, "GET", "/v1/"+appB.AppID+"/notes", ebtest.H{"x-api-key": appB.PublishableKey, "Authorization": "Bearer " + accessB}, nil).Status(t, 200)
	if n := len(list.Body["data"].([]any)); n != 1 {
		t.Fatalf("own notes: %s", list.Raw)
	}
	s.Do(t, "GET", "/api/userAuth/me", ebtest.H{"x-api-key": appB.PublishableKey, "Authorization": "Bearer " + accessA}, nil).URError(t, 401, "Invalid or Expired Token")

	// TTLs come from the app's JWT config.
	s.Do(t, "PATCH", "/v1/"+appA.AppID+"/config/jwt", ebtest.H{"x-api-key": appA.SecretKey}, map[string]any{"access_token_ttl": "15m", "refresh_token_ttl_days": 1}).Status(t, 200)
	login := s.Do(t, "POST", authPath(appA, "/login"), nil, map[string]any{"email": "ann@example.com", "password": goodPassword}).Status(t, 200)
	if login.Body["expires_in"] != 900.0 {
		t.Fatalf("expires_in %v", login.Body["expires_in"])
	}
	short := login.String(t, "access_token")

	// Rotation keeps old tokens valid; the JWKS lists both keys.
	rot := s.Do(t, "POST", "/v1/"+appA.AppID+"/config/jwt/rotate-key", ebtest.H{"x-api-key": appA.SecretKey}, nil).Status(t, 200)
	s.Do(t, "POST", "/v1/"+appA.AppID+"/config/jwt/rotate-key", ebtest.H{"x-api-key": appA.PublishableKey}, nil).Status(t, 403)
	jwks := s.Do(t, "GET", authPath(appA, "/.well-known/jwks.json"), nil, nil).Status(t, 200)
	if keys := jwks.Body["keys"].([]any); len(keys) != 2 || keys[1].(map[string]any)["kid"] != rot.Body["kid"] {
		t.Fatalf("jwks after rotation %s", jwks.Raw)
	}
	s.Do(t, "GET", authPath(appA, "/me"), bearerH(accessA), nil).Status(t, 200)

	// After a restart the keys come back from the log (sealed under the
	// master key in the data dir): old tokens verify, new logins work.
	s.Restart(t)
	s.Do(t, "GET", authPath(appA, "/me"), bearerH(accessA), nil).Status(t, 200)
	s.Do(t, "GET", authPath(appA, "/me"), bearerH(short), nil).Status(t, 200)
	s.Do(t, "POST", authPath(appA, "/login"), nil, map[string]any{"email": "ann@example.com", "password": goodPassword}).Status(t, 200)

	// Expiry: the 15-minute token dies, the 1-day refresh token too.
	clock.Advance(16 * time.Minute)
	s.Do(t, "GET", authPath(appA, "/me"), bearerH(short), nil).Error(t, 401, "Invalid token")
	s.Do(t, "GET", authPath(appA, "/me"), bearerH(accessA), nil).Status(t, 200) // 1 h token
	clock.Advance(24 * time.Hour)
	s.Do(t, "POST", authPath(appA, "/refresh"), nil, map[string]any{"refresh_token": login.String(t, "refresh_token")}).Error(t, 401, "Invalid or expired refresh token")
}

func testAuthUrBackendDialect(t *testing.T, store server.Config) {
	s := ebtest.Start(t, onStore(store, server.Config{}))
	app := s.CreateApp(t, "urb")
	pk := ebtest.H{"x-api-key": app.PublishableKey}
	up := s.Do(t, "POST", "/api/userAuth/signup", pk, map[string]any{"email": "Ur@Example.com", "password": goodPassword, "name": "Ur"}).Status(t, 201)
	data, _ := up.Body["data"].(map[string]any)
	if up.Body["success"] != true || data == nil || data["token"] == nil || data["user"].(map[string]any)["email"] != "ur@example.com" ||
		data["user"].(map[string]any)["name"] != "Ur" {
		t.Fatalf("signup %s", up.Raw)
	}
	s.Do(t, "POST", "/api/userAuth/signup", pk, map[string]any{"email": "ur@example.com", "password": goodPassword}).URError(t, 409, "User already exists with this email.")
	s.Do(t, "POST", "/api/userAuth/login", pk, map[string]any{"email": "ur@example.com", "password": "Wrong-pass1!"}).URError(t, 401, "Invalid email or password")
	in := s.Do(t, "POST", "/api/userAuth/login", pk, map[string]any{"email": "ur@example.com", "password": goodPassword}).Status(t, 200)
	d := in.Body["data"].(map[string]any)
	if in.Body["success"] != true || in.Body["message"] != "Login successful" || d["user"].(map[string]any)["_id"] == nil {
		t.Fatalf("login %s", in.Raw)
	}
	tok := d["token"].(string)
	me := s.Do(t, "GET", "/api/userAuth/me", ebtest.H{"x-api-key": app.PublishableKey, "Authorization": "Bearer " + tok}, nil).Status(t, 200)
	if me.Body["success"] != true || me.Body["data"].(map[string]any)["email"] != "ur@example.com" || strings.Contains(string(me.Raw), "hash") {
		t.Fatalf("me %s", me.Raw)
	}
	// The token is an ordinary access token: it works on the native routes and RLS.
	s.Do(t, "GET", authPath(app, "/me"), bearerH(tok), nil).Status(t, 200)
	s.Do(t, "GET", "/api/userAuth/me", pk, nil).URError(t, 401, "Access Denied: No Token Provided")
	s.Do(t, "GET", "/api/userAuth/me", ebtest.H{"x-api-key": app.PublishableKey, "Authorization": "Bearer nope"}, nil).URError(t, 401, "Invalid or Expired Token")
	s.Do(t, "POST", "/api/userAuth/login", nil, map[string]any{"email": "ur@example.com", "password": goodPassword}).URError(t, 401, "API key not found")
	s.Do(t, "POST", "/api/userAuth/signup", pk, map[string]any{"email": "weak@example.com", "password": "short"}).Status(t, 400)
}

func testAuthRateLimits(t *testing.T, store server.Config) {
	s := ebtest.Start(t, onStore(store, server.Config{RateLimits: true, RateLimitWindow: time.Minute}))
	app, other := s.CreateApp(t, "limited"), s.CreateApp(t, "other")
	post := func(s *ebtest.Server, a ebtest.App, route string, h ebtest.H, i int) *ebtest.Response {
		return s.Do(t, "POST", authPath(a, route), h, map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "password": goodPassword})
	}
	// 5 signups per window per (app, IP); a forged X-Forwarded-For from an
	// untrusted peer changes nothing.
	for i := 0; i < 5; i++ {
		post(s, app, "/signup", ebtest.H{"X-Forwarded-For": fmt.Sprintf("10.0.0.%d", i)}, i).Status(t, 201)
	}
	limited := post(s, app, "/signup", ebtest.H{"X-Forwarded-For": "10.9.9.9"}, 9)
	limited.Error(t, 429, "Too many requests, please try again later.")
	if ra, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", limited.Header.Get("Retry-After"))
	}
	if limited.Header.Get("X-RateLimit-Limit") != "5" || limited.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("rate headers %v", limited.Header)
	}
	s.Do(t, "POST", "/api/userAuth/signup", ebtest.H{"x-api-key": app.PublishableKey}, map[string]any{"email": "x@example.com", "password": goodPassword}).URError(t, 429, "Too many requests, please try again later.")
	// Per app: another app is not affected; per route: login has its own budget.
	post(s, other, "/signup", nil, 1).Status(t, 201)
	post(s, app, "/login", nil, 0).Status(t, 200)
	for i := 0; i < 3; i++ { // forgot-password: 3 per window
		post(s, app, "/forgot-password", nil, i).Status(t, 200)
	}
	post(s, app, "/forgot-password", nil, 4).Status(t, 429)
	// Logout and /me are not limited.
	for i := 0; i < 12; i++ {
		s.Do(t, "GET", authPath(app, "/me"), nil, nil).Status(t, 401)
	}

	// A short window ends (a cheap route, so the test does not race argon2id).
	short := ebtest.Start(t, onStore(store, server.Config{RateLimits: true, RateLimitWindow: time.Second}))
	sapp := short.CreateApp(t, "short")
	for i := 0; i < 3; i++ {
		post(short, sapp, "/forgot-password", nil, i).Status(t, 200)
	}
	ra, _ := strconv.Atoi(post(short, sapp, "/forgot-password", nil, 3).Status(t, 429).Header.Get("Retry-After"))
	time.Sleep(time.Duration(ra)*time.Second + 50*time.Millisecond)
	post(short, sapp, "/forgot-password", nil, 4).Status(t, 200)

	// Behind a trusted proxy, X-Forwarded-For names the client.
	p := ebtest.Start(t, onStore(store, server.Config{RateLimits: true, RateLimitWindow: time.Minute, TrustedProxies: []string{"127.0.0.0/8"}}))
	papp := p.CreateApp(t, "proxied")
	magic := func(xff string) *ebtest.Response {
		return p.Do(t, "POST", authPath(papp, "/magic-link"), ebtest.H{"X-Forwarded-For": xff}, map[string]any{"email": "m@example.com"})
	}
	for i := 0; i < 6; i++ { // six clients, one request each
		magic(fmt.Sprintf("203.0.113.%d, 127.0.0.1", i)).Status(t, 200)
	}
	for i := 0; i < 5; i++ {
		magic("198.51.100.7").Status(t, 200)
	}
	magic("198.51.100.7").Status(t, 429)
	magic("198.51.100.8").Status(t, 200)

	// Switched off (EVENTBASE_RATE_LIMITS=off): no limit at all.
	off := ebtest.Start(t, onStore(store, server.Config{RateLimits: false}))
	oapp := off.CreateApp(t, "off")
	for i := 0; i < 5; i++ {
		post(off, oapp, "/forgot-password", nil, i).Status(t, 200)
	}
}

func testAuthOutboxNeedsAdmin(t *testing.T, store server.Config) {
	s := ebtest.Start(t, onStore(store, server.Config{}))
	app := s.CreateApp(t, "outbox")
	s.Do(t, "GET", "/admin/v1/apps/"+app.AppID+"/outbox", nil, nil).Error(t, 401, "Admin authentication required")
	s.Do(t, "GET", "/admin/v1/apps/"+app.AppID+"/outbox", ebtest.H{"x-api-key": app.SecretKey}, nil).Status(t, 401)
	s.Do(t, "POST", authPath(app, "/magic-link"), nil, map[string]any{"email": "o@example.com"}).Status(t, 200)
	code := outboxCode(t, s, app, "o@example.com", "magic_link")
	res := s.Do(t, "GET", "/admin/v1/apps/"+app.AppID+"/outbox", bearerH(s.AdminToken(t)), nil).Status(t, 200)
	m := res.Body["data"].([]any)[0].(map[string]any)
	if m["subject"] != "Your sign-in code for outbox" || !strings.Contains(m["body"].(string), code) {
		t.Fatalf("outbox %s", res.Raw)
	}
	// The code is in the outbox, never in the audit output.
	audit := s.Do(t, "GET", "/v1/"+app.AppID+"/audit", ebtest.H{"x-api-key": app.SecretKey}, nil).Status(t, 200)
	if strings.Contains(string(audit.Raw), code) || strings.Contains(string(audit.Raw), "sealed") {
		t.Fatalf("audit leaks the code: %s", audit.Raw)
	}
}
