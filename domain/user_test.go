package domain

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// evolve applies changes to u as if committed at at.
func evolve(t *testing.T, u *User, at time.Time, changes []Change) {
	t.Helper()
	for _, c := range changes {
		raw, err := json.Marshal(c.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := u.Apply(c.Type, raw, at); err != nil {
			t.Fatal(err)
		}
	}
}

func session(fam, hash string, exp time.Time) SessionPayload {
	return SessionPayload{FamilyID: fam, TokenHash: hash, ExpiresAt: exp}
}

func newUser(t *testing.T) *User {
	t.Helper()
	s := session("f1", "rt1", t0.Add(7*24*time.Hour))
	ch, err := SignUp(SignupPayload{Email: "a@x.io", PasswordHash: "ph", Provider: ProviderEmail, Session: &s})
	if err != nil {
		t.Fatal(err)
	}
	u := &User{ID: "u1"}
	evolve(t, u, t0, ch)
	return u
}

func TestPasswordPolicy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pw      string
		missing []string
	}{
		{"Abcdef1!", nil},
		{"Ab1!Ab1!é", nil},
		{"Ab1! xyz", nil}, // a space is a special character, as in Butterbase
		{"Ab1!", []string{"Password must be at least 8 characters"}},
		{"abcdefg1!", []string{"Password must contain at least one uppercase letter"}},
		{"ABCDEFG1!", []string{"Password must contain at least one lowercase letter"}},
		{"Abcdefgh!", []string{"Password must contain at least one number"}},
		{"Abcdefgh1", []string{"Password must contain at least one special character"}},
		{"", []string{"Password must be at least 8 characters", "Password must contain at least one uppercase letter",
			"Password must contain at least one lowercase letter", "Password must contain at least one number",
			"Password must contain at least one special character"}},
	} {
		err := CheckPasswordPolicy(tc.pw)
		var pe *PasswordPolicyError
		if tc.missing == nil {
			if err != nil {
				t.Errorf("%q: %v", tc.pw, err)
			}
			continue
		}
		if !errors.As(err, &pe) || !reflect.DeepEqual(pe.Missing, tc.missing) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: got %#v, want %v", tc.pw, err, tc.missing)
		}
		if err.Error() != PasswordPolicyMessage {
			t.Errorf("message %q", err)
		}
	}
	long := make([]byte, MaxPasswordLen+1)
	for i := range long {
		long[i] = 'a'
	}
	if err := CheckPasswordPolicy("A1!" + string(long)); !errors.Is(err, ErrInvalid) {
		t.Errorf("overlong password: %v", err)
	}
}

func TestSignUp(t *testing.T) {
	t.Parallel()
	s := session("f", "h", t0)
	for _, tc := range []struct {
		name string
		p    SignupPayload
		ok   bool
	}{
		{"password", SignupPayload{Email: "a@x.io", PasswordHash: "h", Provider: ProviderEmail, Session: &s}, true},
		{"magic link", SignupPayload{Email: "a@x.io", Provider: ProviderMagicLink}, true},
		{"not normalised", SignupPayload{Email: "A@x.io", PasswordHash: "h", Provider: ProviderEmail, Session: &s}, false},
		{"no password", SignupPayload{Email: "a@x.io", Provider: ProviderEmail, Session: &s}, false},
		{"magic link with password", SignupPayload{Email: "a@x.io", PasswordHash: "h", Provider: ProviderMagicLink}, false},
		{"long name", SignupPayload{Email: "a@x.io", PasswordHash: "h", Provider: ProviderEmail, Session: &s, DisplayName: string(make([]byte, 101))}, false},
		{"unknown provider", SignupPayload{Email: "a@x.io", Provider: "github"}, false},
	} {
		_, err := SignUp(tc.p)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	u := newUser(t)
	if !u.Exists() || u.Email != "a@x.io" || u.EmailVerified || len(u.Families) != 1 || !u.LastSignInAt.Equal(t0) {
		t.Fatalf("state %+v", u)
	}
}

func TestCodes(t *testing.T) {
	t.Parallel()
	issue := func(u *User, purpose, hash string, at time.Time) {
		ch, err := u.IssueCode(CodeIssuedPayload{Purpose: purpose, CodeHash: hash, CodeSealed: "sealed", ExpiresAt: at.Add(CodeTTL(purpose))})
		if err != nil {
			t.Fatal(err)
		}
		evolve(t, u, at, ch)
	}
	u := newUser(t)
	issue(u, CodeMagicLink, "m1", t0)
	issue(u, CodeMagicLink, "m2", t0) // earlier codes stay valid
	issue(u, CodeEmailVerify, "v1", t0)

	for _, tc := range []struct {
		name, purpose, hash string
		at                  time.Time
		reason              string
		msg                 string
	}{
		{"wrong code", CodeMagicLink, "nope", t0, CodeInvalid, "Invalid sign-in code"},
		{"code of another purpose", CodeMagicLink, "v1", t0, CodeInvalid, "Invalid sign-in code"},
		{"expired", CodeMagicLink, "m1", t0.Add(15 * time.Minute), CodeExpired, "Sign-in code expired"},
		{"verify expired", CodeEmailVerify, "v1", t0.Add(24 * time.Hour), CodeExpired, "Verification code expired"},
		{"ok", CodeMagicLink, "m1", t0.Add(14 * time.Minute), "", ""},
	} {
		err := u.CheckCode(tc.purpose, tc.hash, tc.at)
		var ce *CodeError
		if tc.reason == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.As(err, &ce) || ce.Reason != tc.reason || err.Error() != tc.msg {
			t.Errorf("%s: got %v", tc.name, err)
		}
	}

	ch, err := u.MagicLinkLogin("m1", t0.Add(time.Minute), session("f2", "rt2", t0.Add(time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	if p := ch[0].Payload.(LoginPayload); !p.IsNewUser || ch[0].Type != EventMagicLinkLogin {
		t.Fatalf("magic link login %+v", ch)
	}
	evolve(t, u, t0.Add(time.Minute), ch)
	if !u.EmailVerified || len(u.Families) != 2 {
		t.Fatalf("after magic link %+v", u)
	}
	if _, err := u.MagicLinkLogin("m1", t0.Add(2*time.Minute), session("f3", "x", t0.Add(time.Hour))); err == nil || err.Error() != "Sign-in code already used" {
		t.Fatalf("reuse: %v", err)
	}
	ch, _ = u.MagicLinkLogin("m2", t0.Add(3*time.Minute), session("f3", "x", t0.Add(time.Hour)))
	if ch[0].Payload.(LoginPayload).IsNewUser {
		t.Fatal("isNewUser after 3 minutes")
	}

	// Brute force: after MaxCodeAttempts wrong codes the right one is dead.
	issue(u, CodePasswordReset, "r1", t0)
	for range MaxCodeAttempts {
		evolve(t, u, t0, u.RejectCode(CodePasswordReset))
	}
	if err := u.CheckCode(CodePasswordReset, "r1", t0); err == nil || err.Error() != "Reset code expired" {
		t.Fatalf("after too many attempts: %v", err)
	}
	issue(u, CodePasswordReset, "r2", t0) // a new code resets the count
	ch, err = u.ResetPassword("r2", "newhash", t0)
	if err != nil {
		t.Fatal(err)
	}
	evolve(t, u, t0, ch)
	if u.PasswordHash != "newhash" || len(u.Families) != 0 {
		t.Fatalf("reset must end every session: %+v", u)
	}
	if err := u.CheckCode(CodePasswordReset, "r2", t0); err == nil || err.Error() != "Reset code already used" {
		t.Fatalf("reset reuse: %v", err)
	}

	// Codes are forgotten a day after they expire.
	evolve(t, u, t0.Add(50*time.Hour), u.Logout())
	if len(u.Codes) != 0 {
		t.Fatalf("codes not pruned: %+v", u.Codes)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	u := newUser(t)
	exp := t0.Add(7 * 24 * time.Hour)
	ch, err := u.Refresh("rt1", t0, session("ignored", "rt2", exp))
	if err != nil || ch[0].Type != EventTokenRefreshed || ch[0].Payload.(TokenRefreshedPayload).Session.FamilyID != "f1" {
		t.Fatalf("refresh: %v %+v", err, ch)
	}
	evolve(t, u, t0, ch)
	if _, err := u.Refresh("nope", t0, session("", "x", exp)); !errors.Is(err, ErrInvalidRefreshToken) || errors.Is(err, ErrRefreshTokenReused) {
		t.Fatalf("unknown token: %v", err)
	}
	ch, err = u.Refresh("rt1", t0, session("", "rt3", exp))
	if !errors.Is(err, ErrRefreshTokenReused) || !errors.Is(err, ErrInvalidRefreshToken) || ch[0].Type != EventRefreshTokenReuseDetected {
		t.Fatalf("reuse: %v %+v", err, ch)
	}
	evolve(t, u, t0, ch)
	if _, err := u.Refresh("rt2", t0, session("", "rt4", exp)); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatalf("the family's current token must die with it: %v", err)
	}

	// Expiry, and logout of every family.
	u = newUser(t)
	if _, err := u.Refresh("rt1", exp, session("", "x", exp)); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatalf("expired: %v", err)
	}
	evolve(t, u, t0, u.Logout())
	if _, err := u.Refresh("rt1", t0, session("", "x", exp)); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Fatalf("after logout: %v", err)
	}
}

func TestLoginNeedsPassword(t *testing.T) {
	t.Parallel()
	ch, _ := SignUp(SignupPayload{Email: "m@x.io", Provider: ProviderMagicLink})
	u := &User{}
	evolve(t, u, t0, ch)
	if _, err := u.Login(session("f", "h", t0)); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("magic-link user logged in with a password: %v", err)
	}
	if _, err := (&User{}).Login(session("f", "h", t0)); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("missing user: %v", err)
	}
}

func TestSigningKeys(t *testing.T) {
	t.Parallel()
	var k SigningKeys
	p := SigningKeyPayload{Kid: "k1", Alg: "RS256", N: "n", E: "AQAB", PrivateSealed: "s"}
	ch, err := k.Add(p)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(ch[0].Payload)
	_ = k.Apply(ch[0].Type, raw, t0)
	if _, err := k.Add(p); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("duplicate kid: %v", err)
	}
	if _, err := k.Add(SigningKeyPayload{Kid: "k2"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("malformed: %v", err)
	}
	p.Kid = "k2"
	raw, _ = json.Marshal(p)
	_ = k.Apply(EventSigningKeyCreated, raw, t0.Add(time.Hour))
	if k.Current().Kid != "k2" || k.Version != 2 {
		t.Fatalf("current %+v", k.Current())
	}
	if live := k.Live(t0.Add(2*time.Hour), 24*time.Hour); len(live) != 2 {
		t.Fatalf("retired key dropped too early: %d", len(live))
	}
	if live := k.Live(t0.Add(26*time.Hour), 24*time.Hour); len(live) != 1 || live[0].Kid != "k2" {
		t.Fatalf("retired key kept too long: %+v", live)
	}
}
