package server_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/server"
)

// user signs a user up and returns its id and access token.
func user(t *testing.T, s *ebtest.Server, appID, email string) (id, token string) {
	t.Helper()
	res := s.Do(t, "POST", "/auth/"+appID+"/signup", nil, map[string]any{"email": email, "password": "Sup3r-secret!"}).Status(t, 201)
	token = res.String(t, "access_token")
	id = res.Body["user"].(map[string]any)["id"].(string)
	return id, token
}

// TestRLSTable walks urBackend's keys-and-RLS table, row by row, in both
// dialects.
func testRLSTable(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "rls-table")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	aliceID, alice := user(t, s, app.AppID, "alice@example.com")
	bobID, bob := user(t, s, app.AppID, "bob@example.com")
	as := func(tok string) ebtest.H {
		return ebtest.H{"x-api-key": app.PublishableKey, "Authorization": "Bearer " + tok}
	}
	pk := ebtest.H{"x-api-key": app.PublishableKey}
	v1 := "/v1/" + app.AppID

	s.Do(t, "PUT", v1+"/config/collections/open", sk, map[string]any{}).Status(t, 200)
	s.Do(t, "PUT", v1+"/config/collections/posts", sk, map[string]any{"rls": map[string]any{"enabled": true, "mode": "public-read", "owner_field": "ownerId"}}).Status(t, 200)
	s.Do(t, "PUT", v1+"/config/collections/diary", sk, map[string]any{"rls": map[string]any{"enabled": true, "mode": "private", "owner_field": "ownerId"}}).Status(t, 200)
	s.Do(t, "PUT", v1+"/config/collections/profiles", sk, map[string]any{"rls": map[string]any{"enabled": true, "mode": "public-read", "owner_field": "_id"}}).Status(t, 200)

	for _, d := range []struct {
		name  string
		base  string
		check func(r *ebtest.Response, status int, msg string)
	}{
		{"native", v1, func(r *ebtest.Response, status int, msg string) { r.Error(t, status, msg) }},
		{"urBackend", "/api/data", func(r *ebtest.Response, status int, msg string) { r.URError(t, status, msg) }},
	} {
		t.Run(d.name, func(t *testing.T) {
			b := d.base
			// Row: read any collection (RLS off, or public-read) with pk and no token: 200.
			s.Do(t, "GET", b+"/open", pk, nil).Status(t, 200)
			s.Do(t, "GET", b+"/posts", pk, nil).Status(t, 200)
			// Row: write with RLS disabled, pk, any token: 403.
			d.check(s.Do(t, "POST", b+"/open", pk, map[string]any{"x": 1}), 403, "Write blocked for publishable key")
			d.check(s.Do(t, "POST", b+"/open", as(alice), map[string]any{"x": 1}), 403, "Write blocked for publishable key")
			// Row: write with any RLS, sk, no token: allowed.
			s.Do(t, "POST", b+"/open", sk, map[string]any{"x": 1}).Status(t, 201)
			s.Do(t, "POST", b+"/posts", sk, map[string]any{"x": 1, "ownerId": "someone"}).Status(t, 201)
			// Row: write, RLS enabled, no token: 401.
			d.check(s.Do(t, "POST", b+"/posts", pk, map[string]any{"x": 1}), 401, "Authentication required")
			// Row: insert, owner field omitted: allowed, set to the user id.
			created := s.Do(t, "POST", b+"/posts", as(alice), map[string]any{"title": "mine"}).Status(t, 201)
			doc := created.Body
			if d.name == "urBackend" {
				doc = created.Body["data"].(map[string]any)
			}
			if doc["ownerId"] != aliceID {
				t.Fatalf("owner not filled: %s", created.Raw)
			}
			id := doc["_id"].(string)
			// Row: insert naming another owner: 403 mismatch.
			d.check(s.Do(t, "POST", b+"/posts", as(alice), map[string]any{"title": "x", "ownerId": bobID}), 403, "RLS owner mismatch")
			// Row: write another user's document: 403 mismatch.
			d.check(s.Do(t, "PATCH", b+"/posts/"+id, as(bob), map[string]any{"title": "hijack"}), 403, "RLS owner mismatch")
			d.check(s.Do(t, "DELETE", b+"/posts/"+id, as(bob), nil), 403, "RLS owner mismatch")
			// Row: write own document: allowed.
			s.Do(t, "PATCH", b+"/posts/"+id, as(alice), map[string]any{"title": "still mine"}).Status(t, 200)
			s.Do(t, "PATCH", b+"/posts/"+id, as(alice), map[string]any{"ownerId": aliceID}).Status(t, 200)
			// Row: an update that changes the owner field: 403.
			d.check(s.Do(t, "PATCH", b+"/posts/"+id, as(alice), map[string]any{"ownerId": bobID}), 403, "Owner field immutable")
			d.check(s.Do(t, "PUT", b+"/posts/"+id, as(alice), map[string]any{"ownerId": bobID}), 403, "Owner field immutable")
			// Row: owner field _id: insert denied; the user's own _id document is writable.
			d.check(s.Do(t, "POST", b+"/profiles", as(alice), map[string]any{"bio": "x"}), 403, "Insert denied")
			prof := s.Do(t, "POST", v1+"/profiles", sk, map[string]any{"_id": aliceID, "bio": "hi"}).Status(t, 201)
			_ = prof
			s.Do(t, "PATCH", b+"/profiles/"+aliceID, as(alice), map[string]any{"bio": "hello"}).Status(t, 200)
			d.check(s.Do(t, "PATCH", b+"/profiles/"+aliceID, as(bob), map[string]any{"bio": "pwned"}), 403, "RLS owner mismatch")
			s.Do(t, "DELETE", b+"/profiles/"+aliceID, sk, nil).Status(t, 200)
			// Row: read, mode private, no token: 401.
			d.check(s.Do(t, "GET", b+"/diary", pk, nil), 401, "Authentication required")
			// Row: read, mode private, valid token: only the caller's documents; another's id is 404.
			mine := s.Do(t, "POST", b+"/diary", as(alice), map[string]any{"text": "dear diary"}).Status(t, 201)
			mineID := mine.Body["_id"]
			if d.name == "urBackend" {
				mineID = mine.Body["data"].(map[string]any)["_id"]
			}
			s.Do(t, "POST", b+"/diary", as(bob), map[string]any{"text": "bob's"}).Status(t, 201)
			list := s.Do(t, "GET", b+"/diary", as(alice), nil).Status(t, 200)
			if strings.Contains(string(list.Raw), "bob's") || !strings.Contains(string(list.Raw), "dear diary") {
				t.Fatalf("private list for alice: %s", list.Raw)
			}
			s.Do(t, "GET", b+"/diary/"+mineID.(string), as(alice), nil).Status(t, 200)
			d.check(s.Do(t, "GET", b+"/diary/"+mineID.(string), as(bob), nil), 404, "Document not found.")
			// An invalid token counts as none.
			d.check(s.Do(t, "GET", b+"/diary", as("not-a-token"), nil), 401, "Authentication required")
		})
	}
	// A token of another app is rejected by this one (treated as no token).
	other := s.CreateApp(t, "other")
	_, mallory := user(t, s, other.AppID, "mallory@example.com")
	s.Do(t, "POST", v1+"/posts", as(mallory), map[string]any{"t": 1}).Error(t, 401, "Authentication required")
}

func testSecurePublicReadColumnAndAuthenticatedMode(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "secure")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	v1 := "/v1/" + app.AppID
	aliceID, alice := user(t, s, app.AppID, "alice@example.com")
	_, bob := user(t, s, app.AppID, "bob@example.com")
	s.Do(t, "POST", v1+"/notes", sk, map[string]any{"user_id": aliceID, "shared": true, "text": "public note"}).Status(t, 201)
	s.Do(t, "POST", v1+"/notes", sk, map[string]any{"user_id": aliceID, "shared": false, "text": "secret note"}).Status(t, 201)
	s.Do(t, "POST", v1+"/secure", sk, map[string]any{"tables": []map[string]any{{"table_name": "notes", "user_column": "user_id", "public_read_column": "shared"}}}).Status(t, 200)
	bobView := s.Do(t, "GET", v1+"/notes", ebtest.H{"Authorization": "Bearer " + bob}, nil).Status(t, 200)
	if !strings.Contains(string(bobView.Raw), "public note") || strings.Contains(string(bobView.Raw), "secret note") {
		t.Fatalf("bob sees %s", bobView.Raw)
	}
	aliceView := s.Do(t, "GET", v1+"/notes", ebtest.H{"Authorization": "Bearer " + alice}, nil).Status(t, 200)
	if len(decodeData(t, aliceView.Raw)) != 2 {
		t.Fatalf("alice sees %s", aliceView.Raw)
	}
	// Owner auto-fill in authenticated mode with no key at all.
	created := s.Do(t, "POST", v1+"/notes", ebtest.H{"Authorization": "Bearer " + bob}, map[string]any{"text": "bob's"}).Status(t, 201)
	if created.Body["user_id"] == nil || created.Body["user_id"] == aliceID {
		t.Fatalf("owner auto-fill: %s", created.Raw)
	}
	s.Do(t, "GET", v1+"/notes", nil, nil).Error(t, 401, "Authentication required")
}

// TestRealtimeRLSAndTokenExpiry: a private collection's changes reach only
// their owner, and nothing of others' documents leaks (not even ids).
func testRealtimeRLSDelivery(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "rt-rls")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	v1 := "/v1/" + app.AppID
	_, alice := user(t, s, app.AppID, "alice@example.com")
	_, bob := user(t, s, app.AppID, "bob@example.com")
	s.Do(t, "PUT", v1+"/config/collections/diary", sk, map[string]any{"rls": map[string]any{"enabled": true, "mode": "private", "owner_field": "ownerId"}}).Status(t, 200)

	anon := s.DialWS(t, v1+"/realtime?apikey="+app.PublishableKey)
	anon.Expect("authenticated")
	anon.Send(map[string]any{"type": "subscribe", "id": "d", "collection": "diary"})
	if e := anon.Expect("error"); e["error"] != "Authentication required" {
		t.Fatalf("anonymous private subscribe: %v", e)
	}
	a := s.DialWS(t, v1+"/realtime?apikey="+app.PublishableKey+"&token="+alice)
	a.Expect("authenticated")
	a.Send(map[string]any{"type": "subscribe", "id": "d", "collection": "diary"})
	a.Expect("subscribed")
	b := s.DialWS(t, v1+"/realtime?apikey="+app.PublishableKey+"&token="+bob)
	b.Expect("authenticated")
	b.Send(map[string]any{"type": "subscribe", "id": "d", "collection": "diary"})
	b.Expect("subscribed")

	aliceAuth := ebtest.H{"x-api-key": app.PublishableKey, "Authorization": "Bearer " + alice}
	id := s.Do(t, "POST", v1+"/diary", aliceAuth, map[string]any{"text": "alice only"}).Status(t, 201).String(t, "_id")
	s.Do(t, "PATCH", v1+"/diary/"+id, aliceAuth, map[string]any{"text": "alice only, edited"}).Status(t, 200)
	s.Do(t, "DELETE", v1+"/diary/"+id, aliceAuth, nil).Status(t, 200)
	for _, op := range []string{"insert", "update", "delete"} {
		if m := a.Expect("change"); m["op"] != op || m["doc"].(map[string]any)["_id"] != id {
			t.Fatalf("alice %s: %v", op, m)
		}
	}
	b.Silent(300 * time.Millisecond)
}

func testRealtimeTokenExpiry(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "rt-exp")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	v1 := "/v1/" + app.AppID
	_, tok := user(t, s, app.AppID, "eve@example.com")
	s.Do(t, "POST", v1+"/feed", sk, map[string]any{"n": 0}).Status(t, 201)
	c := s.DialWS(t, v1+"/realtime?apikey="+app.PublishableKey+"&token="+tok)
	c.Expect("authenticated")
	c.Send(map[string]any{"type": "subscribe", "id": "f", "collection": "feed"})
	c.Expect("subscribed")
	s.Do(t, "POST", v1+"/feed", sk, map[string]any{"n": 1}).Status(t, 201)
	c.Expect("change")
	// Re-auth with an already expired token is refused with a close reason.
	expired := forgeExpired(t, s, app.AppID)
	c.Send(map[string]any{"type": "auth", "token": expired, "apikey": app.PublishableKey})
	_ = c.WS.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.WS.ReadMessage()
	if err == nil || !strings.Contains(err.Error(), "invalid or expired token") {
		t.Fatalf("expired token re-auth: %v", err)
	}
}

// forgeExpired returns a syntactically valid but unsigned, expired token:
// the server must refuse it.
func forgeExpired(t *testing.T, s *ebtest.Server, appID string) string {
	t.Helper()
	return fmt.Sprintf("eyJhbGciOiJub25lIn0.%s.", "eyJleHAiOjF9")
}

// TestRealtimeTokenExpiresMidConnection: the node's clock runs an hour
// behind, so a 1 h access token expires 3 s from now in real time. After
// that the connection gets an error, no changes, and resumes after re-auth.
func testRealtimeTokenExpiresMidConnection(t *testing.T) {
	s := start(t, server.Config{Now: func() time.Time { return time.Now().Add(-time.Hour + 3*time.Second) }})
	app := s.CreateApp(t, "rt-expiry")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	v1 := "/v1/" + app.AppID
	s.Do(t, "POST", v1+"/feed", sk, map[string]any{"n": 0}).Status(t, 201)
	_, tok := user(t, s, app.AppID, "eve@example.com")
	c := s.DialWS(t, v1+"/realtime?apikey="+app.PublishableKey+"&token="+tok)
	c.Expect("authenticated")
	c.Send(map[string]any{"type": "subscribe", "id": "f", "collection": "feed"})
	c.Expect("subscribed")
	s.Do(t, "POST", v1+"/feed", sk, map[string]any{"n": 1}).Status(t, 201)
	if m := c.Expect("change"); m["doc"].(map[string]any)["n"] != 1.0 {
		t.Fatalf("before expiry: %v", m)
	}
	time.Sleep(3500 * time.Millisecond)
	s.Do(t, "POST", v1+"/feed", sk, map[string]any{"n": 2}).Status(t, 201)
	if e := c.Next(5 * time.Second); e["type"] != "error" || !strings.HasPrefix(e["error"].(string), "token expired") {
		t.Fatalf("after expiry: %v", e)
	}
	c.Silent(200 * time.Millisecond)
	// A fresh token (valid for 3 s more) resumes delivery.
	_, fresh := user(t, s, app.AppID, "eve2@example.com")
	c.Send(map[string]any{"type": "auth", "apikey": app.PublishableKey, "token": fresh})
	c.Expect("authenticated")
	s.Do(t, "POST", v1+"/feed", sk, map[string]any{"n": 3}).Status(t, 201)
	if m := c.Expect("change"); m["doc"].(map[string]any)["n"] != 3.0 {
		t.Fatalf("after re-auth: %v", m)
	}
}
