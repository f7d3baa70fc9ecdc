package mongo

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/eventbase/eventbase/internal/mongotest"
	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
	"github.com/eventbase/eventbase/readstore/readstoretest"
)

func connect(t *testing.T, opts ...*options.ClientOptions) *mongo.Client {
	t.Helper()
	client, err := mongo.Connect(append([]*options.ClientOptions{options.Client().ApplyURI(mongotest.URI(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	return client
}

func put(t *testing.T, s *Store, ns readstore.NS, docs ...readstore.Doc) {
	t.Helper()
	err := s.Batch(context.Background(), func(w readstore.Writer) error {
		for _, d := range docs {
			if err := w.Put(ns, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRealCollections: read models are ordinary collections where a user
// would look for them, with string ids, doubles and sorted keys.
func TestRealCollections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := connect(t)
	prefix := mongotest.DBName("rc")
	s, err := New(client, prefix)
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, readstore.NS{App: "app1", Coll: "posts"}, readstore.Doc{"_id": "p1", "z": 1.0, "a": map[string]any{"y": "x", "b": true}})
	put(t, s, readstore.NS{Coll: "apps"}, readstore.Doc{"_id": "app1", "name": "demo"})

	raw, err := client.Database(prefix+"_app1").Collection("posts").FindOne(ctx, bson.D{{Key: "_id", Value: "p1"}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.String(); got != `{"_id": "p1","a": {"b": true,"y": "x"},"z": {"$numberDouble":"1.0"}}` {
		t.Errorf("stored document = %s", got)
	}
	if n, err := client.Database(prefix).Collection("apps").CountDocuments(ctx, bson.D{{Key: "_id", Value: "app1"}}); err != nil || n != 1 {
		t.Errorf("system namespace not in database %s: %d, %v", prefix, n, err)
	}
}

func TestDatabaseResolver(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := connect(t)
	prefix, own := mongotest.DBName("rr"), mongotest.DBName("byo")
	s, err := New(client, prefix, WithDatabase(func(app string) string { return own }))
	if err != nil {
		t.Fatal(err)
	}
	ns := readstore.NS{App: "a1", Coll: "things"}
	put(t, s, ns, readstore.Doc{"_id": "t1"})
	if n, _ := client.Database(own).Collection("things").CountDocuments(ctx, bson.D{}); n != 1 {
		t.Fatalf("resolver database holds %d documents, want 1", n)
	}
	if nss, err := s.Namespaces(ctx); err != nil || !slices.Equal(nss, []readstore.NS{ns}) {
		t.Fatalf("Namespaces = %v, %v", nss, err)
	}
}

func TestInvalidNames(t *testing.T) {
	t.Parallel()
	client := connect(t)
	if _, err := New(client, "bad.prefix"); err == nil {
		t.Error("prefix with a dot accepted")
	}
	s, err := New(client, mongotest.DBName("in"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []readstore.NS{{App: "a.b", Coll: "c"}, {App: "a b", Coll: "c"}, {App: "a", Coll: "$c"}, {App: "a", Coll: ""}, {Coll: "_checkpoints"}, {Coll: "system.users"}} {
		err := s.Batch(context.Background(), func(w readstore.Writer) error { return w.Put(ns, readstore.Doc{"_id": "1"}) })
		if err == nil {
			t.Errorf("Put into %+v succeeded", ns)
		}
	}
}

// TestCheckpointAfterWrites: a batch's checkpoint reaches the server after
// all its other writes, so a crash in between re-applies the batch instead
// of skipping it. Each collection gets one BulkWrite of the last write to
// each document (b's put of "1" is gone: it was deleted in the batch).
func TestCheckpointAfterWrites(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var order []string
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "update" || e.CommandName == "delete" || e.CommandName == "insert" {
			coll, _ := e.Command.Lookup(e.CommandName).StringValueOK()
			mu.Lock()
			order = append(order, coll)
			mu.Unlock()
		}
	}}
	s, err := New(connect(t, options.Client().SetMonitor(monitor)), mongotest.DBName("cp"))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Batch(context.Background(), func(w readstore.Writer) error {
		if err := w.SetCheckpoint("docs", 3); err != nil {
			return err
		}
		for i, coll := range []string{"a", "b", "a"} {
			if err := w.Put(readstore.NS{App: "x", Coll: coll}, readstore.Doc{"_id": fmt.Sprint(i)}); err != nil {
				return err
			}
		}
		return w.Delete(readstore.NS{App: "x", Coll: "b"}, "1")
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"_namespaces", "a", "b", "_checkpoints"}
	if !slices.Equal(order, want) {
		t.Fatalf("write order = %v, want %v", order, want)
	}
	if pos, _ := s.Checkpoint(context.Background(), "docs"); pos != 3 {
		t.Fatalf("checkpoint = %d", pos)
	}
}

// TestForeignValues: documents other tools wrote into a read model's
// collection read back as JSON values.
func TestForeignValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := connect(t)
	prefix := mongotest.DBName("fv")
	s, err := New(client, prefix)
	if err != nil {
		t.Fatal(err)
	}
	oid := bson.NewObjectID()
	when := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	dec, _ := bson.ParseDecimal128("12.5")
	_, err = client.Database(prefix+"_a").Collection("c").InsertOne(ctx, bson.D{
		{Key: "_id", Value: "f1"}, {Key: "i32", Value: int32(7)}, {Key: "i64", Value: int64(1) << 40},
		{Key: "oid", Value: oid}, {Key: "when", Value: bson.NewDateTimeFromTime(when)}, {Key: "dec", Value: dec},
		{Key: "nested", Value: bson.D{{Key: "list", Value: bson.A{int32(1), "x"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, readstore.NS{App: "a", Coll: "c"}, "f1")
	if err != nil {
		t.Fatal(err)
	}
	want := readstore.Doc{"_id": "f1", "i32": 7.0, "i64": float64(int64(1) << 40), "oid": oid.Hex(),
		"when": "2024-05-06T07:08:09Z", "dec": 12.5, "nested": map[string]any{"list": []any{1.0, "x"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Get = %v, want %v", got, want)
	}
}

// TestCompatIsIdentity: the rewrites for servers weaker than MongoDB never
// change a filter's meaning (query.Match is MongoDB's meaning), and their
// result always renders.
func TestCompatIsIdentity(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	defer s.Close()
	r := rand.New(rand.NewPCG(3, 5))
	var docs []readstore.Doc
	for i := range 200 {
		docs = append(docs, readstoretest.RandomDoc(r, fmt.Sprint(i)))
	}
	extra := []string{
		`{"a":[1,2]}`, `{"a":{"$ne":[1]}}`, `{"a":{"$in":[[1],2]}}`, `{"a":{"$nin":[[],null]}}`,
		`{"a":{"$all":[]}}`, `{"a":{"$all":[[1],2]}}`, `{"a.d":{"$gte":null}}`, `{"a":{"$not":{"$lte":null}}}`,
		`{"a":{"$not":{"$eq":[1]}}}`, `{"a":{"$elemMatch":{"$gte":null}}}`, `{"arr":{"$elemMatch":{"d":[1]}}}`,
		`{"a":{"$not":{"$all":[1,2]}}}`, `{"a":{"$not":{"$all":[1,[2]]}}}`, `{"a":{"$all":[1,[2]],"$size":2}}`,
		`{"a":{"$not":{"$in":[[1],2],"$gte":null}}}`, `{"a":{"$elemMatch":{"d":{"$all":[]},"e":{"$lte":null}}}}`,
	}
	tested := 0
	for i := 0; tested < 1500; i++ {
		var raw []byte
		if i < len(extra) {
			raw = []byte(extra[i])
		} else {
			raw, _ = json.Marshal(readstoretest.RandomFilter(r))
		}
		e, err := query.Parse(raw)
		if err != nil {
			continue
		}
		tested++
		c := compat(e)
		if _, err := query.Format(c); err != nil {
			t.Fatalf("Format(compat(%s)): %v", raw, err)
		}
		if i < len(extra) {
			// The server takes the rewritten form.
			if _, err := s.Count(context.Background(), readstore.NS{App: "a", Coll: "c"}, e); err != nil {
				t.Fatalf("Count(%s): %v", raw, err)
			}
		}
		for _, d := range docs {
			if query.Match(e, d) != query.Match(c, d) {
				m, _ := query.Format(c)
				cj, _ := json.Marshal(m)
				dj, _ := json.Marshal(d)
				t.Fatalf("compat changed %s into %s, which disagrees on %s", raw, cj, dj)
			}
		}
	}
}

func TestObjectType(t *testing.T) {
	t.Parallel()
	m, _ := query.Format(query.After([]query.SortField{{Field: "p"}}, map[string]any{"_id": "k", "p": 1.0}))
	objectType(m)
	raw, _ := json.Marshal(m)
	if !strings.Contains(string(raw), `{"p":{"$type":"object"}}`) || strings.Contains(string(raw), `"$gte":{}`) {
		t.Fatalf("objectType left %s", raw)
	}
}
