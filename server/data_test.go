package server_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/server"
)

func testDataCRUDBothDialects(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "crud")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	pk := ebtest.H{"x-api-key": app.PublishableKey}
	base := "/v1/" + app.AppID + "/posts"

	created := s.Do(t, "POST", base, sk, map[string]any{"title": "hello", "price": 10, "tags": []string{"a", "b"}}).Status(t, 201)
	id := created.String(t, "_id")
	if len(id) != 24 || created.Body["_version"] != 1.0 || created.Body["createdAt"] == nil || created.Body["updatedAt"] == nil {
		t.Fatalf("created %s", created.Raw)
	}
	// Read-your-writes: visible at once, to pk and in the urBackend dialect.
	s.Do(t, "GET", base+"/"+id, pk, nil).Status(t, 200)
	ur := s.Do(t, "GET", "/api/data/posts/"+id, pk, nil).Status(t, 200)
	if ur.Body["success"] != true || ur.Body["data"].(map[string]any)["title"] != "hello" {
		t.Fatalf("urBackend get: %s", ur.Raw)
	}
	list := s.Do(t, "GET", "/api/data/posts", pk, nil).Status(t, 200)
	if items := list.Body["data"].(map[string]any)["items"].([]any); len(items) != 1 {
		t.Fatalf("urBackend list: %s", list.Raw)
	}

	patched := s.Do(t, "PATCH", base+"/"+id, sk, map[string]any{"price": 12}).Status(t, 200)
	if patched.Body["title"] != "hello" || patched.Body["price"] != 12.0 || patched.Body["_version"] != 2.0 {
		t.Fatalf("patched %s", patched.Raw)
	}
	put := s.Do(t, "PUT", base+"/"+id, sk, map[string]any{"title": "replaced"}).Status(t, 200)
	if put.Body["title"] != "replaced" || put.Body["price"] != nil || put.Body["createdAt"] != created.Body["createdAt"] {
		t.Fatalf("put %s", put.Raw)
	}
	urDoc := s.Do(t, "POST", "/api/data/posts", ebtest.H{"x-api-key": app.SecretKey}, map[string]any{"title": "ur"}).Status(t, 201)
	if urDoc.Body["success"] != true {
		t.Fatalf("urBackend create %s", urDoc.Raw)
	}
	s.Do(t, "DELETE", base+"/"+id, sk, nil).Status(t, 200)
	s.Do(t, "GET", base+"/"+id, sk, nil).Error(t, 404, "Document not found.")
	s.Do(t, "DELETE", base+"/"+id, sk, nil).Error(t, 404, "Document not found.")
	s.Do(t, "GET", base+"/not-an-id", sk, nil).Error(t, 404, "Document not found.")
	s.Do(t, "GET", "/api/data/posts/not-an-id", pk, nil).URError(t, 404, "Document not found.")

	// Keys of other apps, and no key on the urBackend dialect.
	other := s.CreateApp(t, "other")
	s.Do(t, "GET", base, ebtest.H{"x-api-key": other.PublishableKey}, nil).Error(t, 401, "API key is expired or invalid.")
	s.Do(t, "GET", "/api/data/posts", nil, nil).URError(t, 401, "API key not found")
	s.Do(t, "GET", "/api/data/posts", ebtest.H{"x-api-key": "pk_live_nope"}, nil).URError(t, 401, "API key is expired or invalid.")
	// The other app sees none of this app's documents.
	s.Do(t, "GET", "/api/data/posts", ebtest.H{"x-api-key": other.SecretKey}, nil).URError(t, 404, "Collection not found")
	s.Do(t, "GET", "/v1/"+other.AppID+"/posts/"+urDoc.Body["data"].(map[string]any)["_id"].(string), ebtest.H{"x-api-key": other.SecretKey}, nil).Error(t, 404, "Collection not found")
	s.Do(t, "GET", "/v1/"+app.AppID+"/users", sk, nil).Error(t, 403, "use the auth API")
	s.Do(t, "POST", "/api/data/users", ebtest.H{"x-api-key": app.SecretKey}, map[string]any{"a": 1}).URError(t, 403, "use the auth API")
}

func testKeysAndRLSWithoutUsers(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "rls")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	pk := ebtest.H{"x-api-key": app.PublishableKey}
	base := "/v1/" + app.AppID
	s.Do(t, "POST", base+"/open", sk, map[string]any{"x": 1}).Status(t, 201)
	// pk reads a collection with RLS off: 200. pk writes with RLS off: 403.
	s.Do(t, "GET", base+"/open", pk, nil).Status(t, 200)
	s.Do(t, "POST", base+"/open", pk, map[string]any{"x": 2}).Error(t, 403, "Write blocked for publishable key")
	s.Do(t, "POST", "/api/data/open", pk, map[string]any{"x": 2}).URError(t, 403, "Write blocked for publishable key")
	// pk cannot create a collection; sk can.
	s.Do(t, "POST", base+"/missing", pk, map[string]any{"x": 2}).Error(t, 404, "Collection not found")

	s.Do(t, "PUT", base+"/config/collections/private", sk, map[string]any{
		"fields": []map[string]any{{"name": "title", "type": "string"}},
		"rls":    map[string]any{"enabled": true, "mode": "private", "owner_field": "ownerId"},
	}).Status(t, 200)
	s.Do(t, "POST", base+"/private", sk, map[string]any{"title": "t", "ownerId": "u1"}).Status(t, 201)
	// RLS enabled, pk without token: writes and private reads need a user.
	s.Do(t, "POST", base+"/private", pk, map[string]any{"title": "t"}).Error(t, 401, "Authentication required")
	s.Do(t, "GET", base+"/private", pk, nil).Error(t, 401, "Authentication required")
	s.Do(t, "GET", "/api/data/private", pk, nil).URError(t, 401, "Authentication required")
	// The secret key bypasses RLS.
	if n := len(s.Do(t, "GET", base+"/private", sk, nil).Status(t, 200).Body["data"].([]any)); n != 1 {
		t.Fatalf("sk sees %d private docs", n)
	}
	s.Do(t, "PUT", base+"/config/collections/legacy", sk, map[string]any{"rls": map[string]any{"enabled": true, "mode": "owner-write-only"}}).Status(t, 200)
	s.Do(t, "GET", base+"/legacy", pk, nil).Status(t, 200)
	s.Do(t, "PUT", base+"/config/collections/bad", sk, map[string]any{"rls": map[string]any{"enabled": true, "mode": "weird"}}).
		Error(t, 400, "Unsupported RLS mode. Allowed: public-read, private, owner-write-only (legacy).")
	s.Do(t, "PUT", base+"/config/collections/bad", pk, map[string]any{}).Status(t, 403)
}

func testAccessModeAndSecure(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "am")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	pk := ebtest.H{"x-api-key": app.PublishableKey}
	base := "/v1/" + app.AppID
	s.Do(t, "PUT", base+"/config/collections/notes", sk, map[string]any{"fields": []map[string]any{{"name": "owner", "type": "string"}, {"name": "shared", "type": "boolean"}}}).Status(t, 200)
	res := s.Do(t, "PATCH", base+"/config/access-mode", sk, map[string]any{"access_mode": "authenticated"}).Status(t, 200)
	if res.Body["message"] != `Access mode updated to "authenticated"` || res.Body["app_id"] != app.AppID || res.Body["access_mode"] != "authenticated" {
		t.Fatalf("access mode: %s", res.Raw)
	}
	s.Do(t, "GET", base+"/notes", pk, nil).Error(t, 401, "Authentication required")
	s.Do(t, "GET", base+"/notes", nil, nil).Error(t, 401, "Authentication required")
	s.Do(t, "GET", base+"/notes", sk, nil).Status(t, 200)
	s.Do(t, "PATCH", base+"/config/access-mode", sk, map[string]any{"access_mode": "nobody"}).Status(t, 400)
	s.Do(t, "PATCH", base+"/config/access-mode", sk, map[string]any{"access_mode": "public"}).Status(t, 200)
	s.Do(t, "GET", base+"/notes", pk, nil).Status(t, 200)

	sec := s.Do(t, "POST", base+"/secure", sk, map[string]any{"tables": []map[string]any{
		{"table_name": "notes", "user_column": "owner", "public_read_column": "shared"},
		{"table_name": "ghosts", "user_column": "owner"},
		{"table_name": "notes", "user_column": "nope"},
	}}).Status(t, 200)
	if sec.Body["access_mode"] != "authenticated" || fmt.Sprint(sec.Body["tables_secured"]) != "[notes]" {
		t.Fatalf("secure: %s", sec.Raw)
	}
	errs := sec.Body["table_errors"].([]any)
	if len(errs) != 2 || errs[0].(map[string]any)["table_name"] != "ghosts" || errs[1].(map[string]any)["table_name"] != "notes" {
		t.Fatalf("secure errors: %s", sec.Raw)
	}
	cols := s.Do(t, "GET", base+"/config/collections", sk, nil).Status(t, 200)
	if !strings.Contains(string(cols.Raw), `"mode":"private"`) || !strings.Contains(string(cols.Raw), `"owner_field":"owner"`) {
		t.Fatalf("collections after secure: %s", cols.Raw)
	}
	s.Do(t, "GET", base+"/notes", pk, nil).Error(t, 401, "Authentication required")
}

func testSchemaUniqueAndConcurrency(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "schema")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	base := "/v1/" + app.AppID + "/accounts"
	s.Do(t, "PUT", "/v1/"+app.AppID+"/config/collections/accounts", sk, map[string]any{"fields": []map[string]any{
		{"name": "email", "type": "string", "required": true, "unique": true},
		{"name": "age", "type": "integer"},
		{"name": "born", "type": "date"},
		{"name": "flags", "type": "array"},
	}}).Status(t, 200)
	s.Do(t, "POST", base, sk, map[string]any{"age": 3}).Error(t, 400, "Field 'email' is required.")
	s.Do(t, "POST", base, sk, map[string]any{"email": 5}).Error(t, 400, "Field 'email' must be a string.")
	s.Do(t, "POST", base, sk, map[string]any{"email": "a@x.io", "age": 1.5}).Error(t, 400, "Field 'age' must be an integer.")
	s.Do(t, "POST", base, sk, map[string]any{"email": "a@x.io", "born": "last year"}).Error(t, 400, "Field 'born' must be a date (RFC 3339 string).")
	s.Do(t, "POST", base, sk, map[string]any{"email": "a@x.io", "flags": "x"}).Error(t, 400, "Field 'flags' must be an array.")

	// 50 concurrent creates with one unique value: one 201, 49 409s.
	var wg sync.WaitGroup
	codes := make(chan int, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := s.Do(t, "POST", base, sk, map[string]any{"email": "race@x.io"})
			if res.Code == 409 && res.Body["error"] != "Duplicate value for unique field 'email'" {
				t.Errorf("409 body %s", res.Raw)
			}
			codes <- res.Code
		}()
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if count[201] != 1 || count[409] != 49 {
		t.Fatalf("status counts %v, want one 201 and 49 409", count)
	}
	list := s.Do(t, "GET", base+"?filter="+url.QueryEscape(`{"email":"race@x.io"}`), sk, nil).Status(t, 200)
	docs := list.Body["data"].([]any)
	if len(docs) != 1 {
		t.Fatalf("%d documents hold the unique value", len(docs))
	}
	id := docs[0].(map[string]any)["_id"].(string)
	// Changing the value frees it; deleting frees the new one.
	s.Do(t, "PATCH", base+"/"+id, sk, map[string]any{"email": "moved@x.io"}).Status(t, 200)
	second := s.Do(t, "POST", base, sk, map[string]any{"email": "race@x.io"}).Status(t, 201)
	s.Do(t, "POST", base, sk, map[string]any{"email": "moved@x.io"}).Error(t, 409, "Duplicate value for unique field 'email'")
	s.Do(t, "PATCH", base+"/"+second.String(t, "_id"), sk, map[string]any{"email": "moved@x.io"}).Error(t, 409, "Duplicate value for unique field 'email'")
	s.Do(t, "DELETE", base+"/"+id, sk, nil).Status(t, 200)
	s.Do(t, "POST", base, sk, map[string]any{"email": "moved@x.io"}).Status(t, 201)

	// If-Match: a stale version is 409; the current one applies.
	doc := s.Do(t, "POST", base, sk, map[string]any{"email": "v@x.io", "age": 1}).Status(t, 201)
	did := doc.String(t, "_id")
	s.Do(t, "PATCH", base+"/"+did, ebtest.H{"x-api-key": app.SecretKey, "If-Match": "1"}, map[string]any{"age": 2}).Status(t, 200)
	s.Do(t, "PATCH", base+"/"+did, ebtest.H{"x-api-key": app.SecretKey, "If-Match": "1"}, map[string]any{"age": 3}).Status(t, 409)
	s.Do(t, "DELETE", base+"/"+did, ebtest.H{"x-api-key": app.SecretKey, "If-Match": "1"}, nil).Status(t, 409)
	// Racing PATCHes without If-Match: both apply, none is lost.
	var wg2 sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg2.Add(1)
		go func(i int) {
			defer wg2.Done()
			s.Do(t, "PATCH", base+"/"+did, sk, map[string]any{fmt.Sprintf("f%d", i): i}).Status(t, 200)
		}(i)
	}
	wg2.Wait()
	final := s.Do(t, "GET", base+"/"+did, sk, nil).Status(t, 200)
	for i := 0; i < 10; i++ {
		if final.Body[fmt.Sprintf("f%d", i)] != float64(i) {
			t.Fatalf("lost update f%d: %s", i, final.Raw)
		}
	}
	if final.Body["_version"] != 12.0 {
		t.Fatalf("version %v after 11 updates", final.Body["_version"])
	}
}

func testHistoryAndTimeTravel(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "hist")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	base := "/v1/" + app.AppID + "/items"
	id := s.Do(t, "POST", base, sk, map[string]any{"n": 1}).Status(t, 201).String(t, "_id")
	time.Sleep(20 * time.Millisecond)
	between := time.Now().UTC().Format(time.RFC3339Nano)
	time.Sleep(20 * time.Millisecond)
	s.Do(t, "PATCH", base+"/"+id, sk, map[string]any{"n": 2}).Status(t, 200)
	s.Do(t, "DELETE", base+"/"+id, sk, nil).Status(t, 200)

	h := s.Do(t, "GET", base+"/"+id+"/history", sk, nil).Status(t, 200)
	var versions []string
	items := decodeList(t, h.Raw)
	for _, it := range items {
		versions = append(versions, fmt.Sprintf("%v:%v:%v", it["version"], it["type"], it["actor"]))
	}
	if fmt.Sprint(versions) != "[1:document_created:secret_key 2:document_updated:secret_key 3:document_deleted:secret_key]" {
		t.Fatalf("history %v", versions)
	}
	at := s.Do(t, "GET", base+"/"+id+"?at="+url.QueryEscape(between), sk, nil).Status(t, 200)
	if at.Body["n"] != 1.0 {
		t.Fatalf("at %s: %s", between, at.Raw)
	}
	s.Do(t, "GET", base+"/"+id+"?at="+url.QueryEscape(time.Now().UTC().Format(time.RFC3339Nano)), sk, nil).Error(t, 404, "Document not found.")
	s.Do(t, "GET", base+"/"+id+"/history", ebtest.H{"x-api-key": app.PublishableKey}, nil).Status(t, 403)
	s.Do(t, "GET", base+"/"+id+"?at=yesterday", sk, nil).Error(t, 400, "at must be an RFC 3339 time")
}

func testQueriesAndInputLimits(t *testing.T) {
	s := start(t, server.Config{})
	app := s.CreateApp(t, "q")
	sk := ebtest.H{"x-api-key": app.SecretKey}
	base := "/v1/" + app.AppID + "/products"
	for i := 0; i < 25; i++ {
		s.Do(t, "POST", base, sk, map[string]any{"name": fmt.Sprintf("p%02d", i), "price": i, "tags": []string{fmt.Sprintf("t%d", i%3)}, "published": i%2 == 0}).Status(t, 201)
	}
	names := func(raw []byte) string {
		var out []string
		for _, d := range decodeData(t, raw) {
			out = append(out, d["name"].(string))
		}
		return strings.Join(out, ",")
	}
	get := func(q string) *ebtest.Response { return s.Do(t, "GET", base+"?"+q, sk, nil) }
	if got := names(get("filter="+url.QueryEscape(`{"price":{"$gte":20}}`)+"&sort=-price").Status(t, 200).Raw); got != "p24,p23,p22,p21,p20" {
		t.Fatalf("range+sort: %s", got)
	}
	if got := names(get("filter="+url.QueryEscape(`{"tags":"t1","price":{"$lt":10}}`)+"&sort=name").Status(t, 200).Raw); got != "p01,p04,p07" {
		t.Fatalf("array contains: %s", got)
	}
	if got := names(get("published=true&price=4").Status(t, 200).Raw); got != "p04" {
		t.Fatalf("equality params: %s", got)
	}
	// Cursor paging stays correct while documents are inserted.
	var seen []string
	cursor := ""
	for page := 0; page < 10; page++ {
		q := "sort=price&limit=10&filter=" + url.QueryEscape(`{"price":{"$lt":100}}`)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		res := get(q).Status(t, 200)
		for _, d := range decodeData(t, res.Raw) {
			seen = append(seen, d["name"].(string))
		}
		if page == 0 {
			s.Do(t, "POST", base, sk, map[string]any{"name": "early", "price": -1}).Status(t, 201)
			s.Do(t, "POST", base, sk, map[string]any{"name": "late", "price": 99}).Status(t, 201)
		}
		c, ok := res.Body["next_cursor"].(string)
		if !ok {
			break
		}
		cursor = c
	}
	if len(seen) != 26 || seen[0] != "p00" || seen[25] != "late" {
		t.Fatalf("paged %d: %v", len(seen), seen)
	}
	// A projection that leaves out the sort field still pages correctly.
	var projected []string
	cursor = ""
	for {
		q := "fields=name&sort=-price&limit=7"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		res := get(q).Status(t, 200)
		for _, d := range decodeData(t, res.Raw) {
			if len(d) != 2 {
				t.Fatalf("projected doc %v", d)
			}
			projected = append(projected, d["name"].(string))
		}
		c, ok := res.Body["next_cursor"].(string)
		if !ok {
			break
		}
		cursor = c
	}
	if len(projected) != 27 || projected[0] != "late" || projected[26] != "early" {
		t.Fatalf("projected paging: %v", projected)
	}
	proj := decodeData(t, get("fields=name&limit=1&sort=name").Status(t, 200).Raw)
	if len(proj) != 1 || len(proj[0]) != 2 || proj[0]["name"] != "early" {
		t.Fatalf("projection: %v", proj)
	}
	if n := len(decodeData(t, get("").Raw)); n != 27 {
		t.Fatalf("default list returned %d", n)
	}
	if n := len(decodeData(t, get("limit=5000").Raw)); n != 27 {
		t.Fatalf("limit above max returned %d", n)
	}
	// Operator injection and malformed queries are 400s naming the problem.
	for _, bad := range []string{`{"$where":"1"}`, `{"price":{"$function":{}}}`, `{"$expr":{"$gt":["$a",1]}}`, `{"a":{"$accumulator":{}}}`, `{"a":{"$nor":[]}}`} {
		res := get("filter="+url.QueryEscape(bad)).Status(t, 400)
		if !strings.Contains(res.Body["error"].(string), "$") {
			t.Fatalf("filter %s: %s", bad, res.Raw)
		}
	}
	get("filter="+url.QueryEscape(`{"a":`)).Status(t, 400)
	get("cursor=garbage").Status(t, 400)
	get("limit=-1").Status(t, 400)

	// Bodies: size, field names, depth, shape.
	big := `{"x":"` + strings.Repeat("a", 1<<20) + `"}`
	s.Do(t, "POST", base, sk, big).Error(t, 413, "Request body too large")
	s.Do(t, "POST", base, sk, `{"$set":1}`).Status(t, 400)
	s.Do(t, "POST", base, sk, `{"a.b":1}`).Status(t, 400)
	s.Do(t, "POST", base, sk, "{\"a\u0000\":1}").Status(t, 400)
	s.Do(t, "POST", base, sk, `[1,2]`).Error(t, 400, "Request body must be a JSON object")
	s.Do(t, "POST", base, sk, `"str"`).Error(t, 400, "Request body must be a JSON object")
	s.Do(t, "POST", base, sk, `{"a":1} trailing`).Error(t, 400, "Invalid JSON format")
	s.Do(t, "POST", "/api/data/products", ebtest.H{"x-api-key": app.SecretKey}, `{bad`).URError(t, 400, "Check your request body syntax. Stray characters outside the JSON object are not allowed.")
	deep := strings.Repeat(`{"a":`, 33) + "1" + strings.Repeat("}", 33)
	s.Do(t, "POST", base, sk, deep).Error(t, 400, "document nesting is deeper than 32 levels")
	ok := strings.Repeat(`{"a":`, 31) + "1" + strings.Repeat("}", 31)
	s.Do(t, "POST", base, sk, ok).Status(t, 201)
	// Nothing was stored by the rejected requests.
	if n := len(decodeData(t, get("limit=1000").Raw)); n != 28 {
		t.Fatalf("%d documents after rejected writes, want 28", n)
	}
}
