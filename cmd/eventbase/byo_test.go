package main

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/eventstore/sqlite"
	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/internal/mongotest"
	"github.com/eventbase/eventbase/server"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestMain(m *testing.M) {
	code := m.Run()
	mongotest.Stop()
	os.Exit(code)
}

// TestAppWithItsOwnMongoDB: `apps create --mongodb-uri` beside a server on
// the embedded store. The app's events, documents and users live in its
// own MongoDB (and not in the node's store); realtime, restart and replay
// work for it as for any app.
func TestAppWithItsOwnMongoDB(t *testing.T) {
	base := mongotest.URI(t)
	db := mongotest.DBName("byo")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	uri := u.String()
	s := ebtest.Start(t, server.Config{})
	code, out, stderr := runCLI(t, s.Config.DataDir, "apps", "create", "byo", "--mongodb-uri", uri, "--json")
	if code != 0 {
		t.Fatalf("apps create --mongodb-uri: %d %s", code, stderr)
	}
	var app ebtest.App
	if err := json.Unmarshal([]byte(out), &app); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out+stderr, uri) {
		t.Fatal("the URI was printed")
	}
	sk := ebtest.H{"x-api-key": app.SecretKey}
	v1 := "/v1/" + app.AppID
	deadline := time.Now().Add(2 * time.Second)
	var id string
	for {
		res := s.Do(t, "POST", v1+"/orders", sk, map[string]any{"item": "tea", "qty": 2})
		if res.Code == 201 {
			id = res.String(t, "_id")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node never served the app: %d %s", res.Code, res.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A realtime subscriber of the app gets its changes.
	c := s.DialWS(t, v1+"/realtime?apikey="+app.SecretKey)
	c.Send(map[string]any{"type": "subscribe", "id": "o", "collection": "orders"})
	for m := c.Next(5 * time.Second); m["type"] != "subscribed"; m = c.Next(5 * time.Second) {
	}
	s.Do(t, "PATCH", v1+"/orders/"+id, sk, map[string]any{"qty": 3}).Status(t, 200)
	for m := c.Next(5 * time.Second); ; m = c.Next(5 * time.Second) {
		if m["type"] == "change" {
			if m["op"] != "update" || m["doc"].(map[string]any)["qty"] != 3.0 {
				t.Fatalf("change %v", m)
			}
			break
		}
	}
	s.Do(t, "POST", "/auth/"+app.AppID+"/signup", nil, map[string]any{"email": "own@example.com", "password": "Sup3r-secret!"}).Status(t, 201)
	audit := s.Do(t, "GET", v1+"/audit?type=document_created,document_updated,signup", sk, nil).Status(t, 200)
	if n := len(audit.Body["data"].([]any)); n != 3 {
		t.Fatalf("audit of the app: %s", audit.Raw)
	}

	// The data is in the app's own database, readable with its own tools.
	ctx := context.Background()
	cl, err := mongo.Connect(options.Client().ApplyURI(base))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(ctx)
	var order bson.M
	if err := cl.Database(db).Collection("orders").FindOne(ctx, bson.M{"_id": id}).Decode(&order); err != nil || order["qty"] != 3.0 {
		t.Fatalf("order in the app's database: %v %v", order, err)
	}
	if n, err := cl.Database(db).Collection("_users").CountDocuments(ctx, bson.M{"email": "own@example.com"}); err != nil || n != 1 {
		t.Fatalf("user in the app's database: %d %v", n, err)
	}
	if n, err := cl.Database(db+"_log").Collection("events").CountDocuments(ctx, bson.M{}); err != nil || n < 3 {
		t.Fatalf("events in the app's log: %d %v", n, err)
	}
	// ... and not in the node's store: only its registry entry is.
	local, err := sqlite.Open(filepath.Join(s.Config.DataDir, "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := local.Read(ctx, eventstore.Query{AppID: app.AppID})
	local.Close()
	if err != nil || len(evs) != 1 || evs[0].Type != "app_created" || strings.Contains(string(evs[0].Payload), uri) {
		t.Fatalf("the node's log holds %d events of the app (%v)", len(evs), err)
	}

	// Restart: the cell opens again; stop: replay rebuilds both stores.
	s.Restart(t)
	got := s.Do(t, "GET", v1+"/orders/"+id, sk, nil).Status(t, 200)
	if got.Body["qty"] != 3.0 {
		t.Fatalf("after restart: %s", got.Raw)
	}
	s.Stop(t)
	code, out, stderr = runCLI(t, s.Config.DataDir, "replay")
	if code != 0 || strings.Count(out, "verified: rebuilt read models equal the previous ones") != 2 {
		t.Fatalf("replay: %d %s %s", code, out, stderr)
	}
	code, out, stderr = runCLI(t, s.Config.DataDir, "replay", "--app", app.AppID)
	if code != 0 || !strings.Contains(out, "verified") {
		t.Fatalf("replay --app: %d %s %s", code, out, stderr)
	}
	// An unreachable database is refused at creation.
	if code, _, stderr := runCLI(t, s.Config.DataDir, "apps", "create", "nowhere", "--mongodb-uri", "mongodb://127.0.0.1:1/x?serverSelectionTimeoutMS=500"); code != 1 || !strings.Contains(stderr, "--mongodb-uri") {
		t.Fatalf("unreachable --mongodb-uri: %d %s", code, stderr)
	}
}
