package mongo_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/eventstore/eventstoretest"
	"github.com/eventbase/eventbase/eventstore/mongo"
	"github.com/eventbase/eventbase/internal/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A location is "<uri>#<database>", so that the durability test's child
// process reaches the same server and database.
func open(loc string) (eventstore.Store, error) { return openStore(loc) }

func openStore(loc string, opts ...mongo.Option) (*mongo.Store, error) {
	uri, db, ok := splitLocation(loc)
	if !ok {
		return nil, fmt.Errorf("location %q is not <uri>#<database>", loc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return mongo.Open(ctx, uri, db, opts...)
}

func splitLocation(loc string) (uri, db string, ok bool) {
	i := strings.LastIndexByte(loc, '#')
	if i < 0 {
		return "", "", false
	}
	return loc[:i], loc[i+1:], true
}

func TestMain(m *testing.M) {
	eventstoretest.RunChildIfRequested(open)
	flag.Parse()
	if os.Getenv(mongotest.EnvURI) == "" && !flagSet("test.benchtime") {
		// jongodb inserts and queries cost time in proportion to the
		// collection, so the usual ramp to one second would grow the
		// benchmarks' collections until they take minutes. Its numbers
		// mean nothing anyway: run a few iterations only.
		_ = flag.Set("test.benchtime", "10x")
	}
	mongotest.Main(m)
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// newLocation returns a fresh database on the test server, dropped after the
// test (which matters on a real server only).
func newLocation(t testing.TB) string {
	t.Helper()
	uri := mongotest.URI(t)
	db := mongotest.DBName("eventstore")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := driver.Connect(options.Client().ApplyURI(uri)); err == nil {
			_ = c.Database(db).Drop(ctx)
			_ = c.Disconnect(ctx)
		}
	})
	return uri + "#" + db
}

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, eventstoretest.Harness{
		NewLocation: func(t *testing.T) string { return newLocation(t) },
		Open:        open,
	})
}

// TestConformanceOutOfOrder runs the suite with a random delay between
// position allocation and insert, so commits land out of position order and
// readers must wait for holes.
func TestConformanceOutOfOrder(t *testing.T) {
	jitter := func() time.Duration { return time.Duration(rand.Int64N(int64(3*time.Millisecond) + 1)) }
	eventstoretest.Run(t, eventstoretest.Harness{
		NewLocation: func(t *testing.T) string { return newLocation(t) },
		Open: func(loc string) (eventstore.Store, error) {
			return openStore(loc, mongo.WithInsertDelay(jitter))
		},
	})
}

func quiet() mongo.Option { return mongo.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))) }

func openT(t *testing.T, loc string, opts ...mongo.Option) *mongo.Store {
	t.Helper()
	s, err := openStore(loc, append([]mongo.Option{quiet()}, opts...)...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawDB connects to the location's database directly, to look at documents
// or to play a writer that crashed.
func rawDB(t *testing.T, loc string) *driver.Database {
	t.Helper()
	uri, db, _ := splitLocation(loc)
	c, err := driver.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Disconnect(context.Background()) })
	return c.Database(db)
}

func proposed(typ, payload string) eventstore.Proposed {
	return eventstore.Proposed{Type: typ, Payload: json.RawMessage(payload), Actor: "tester"}
}

func appendOne(t *testing.T, s eventstore.Store, app, stream string, expected int64) eventstore.Event {
	t.Helper()
	evs, err := s.Append(context.Background(), eventstore.Append{AppID: app, StreamID: stream, Expected: expected,
		Events: []eventstore.Proposed{proposed("e", `{}`)}})
	if err != nil {
		t.Fatalf("append %s/%s: %v", app, stream, err)
	}
	return evs[0]
}

func read(t *testing.T, s eventstore.Store, q eventstore.Query) []eventstore.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	evs, err := s.Read(ctx, q)
	if err != nil {
		t.Fatalf("read %+v: %v", q, err)
	}
	return evs
}

func positions(evs []eventstore.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Position
	}
	return out
}

// allocate plays a writer that allocated a position and crashed.
func allocate(t *testing.T, db *driver.Database) int64 {
	t.Helper()
	var c struct {
		N int64 `bson:"n"`
	}
	err := db.Collection("counters").FindOneAndUpdate(context.Background(), bson.D{{Key: "_id", Value: "position"}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: int64(1)}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&c)
	if err != nil {
		t.Fatal(err)
	}
	return c.N
}

func counter(t *testing.T, db *driver.Database, id string) int64 {
	t.Helper()
	var c struct {
		N int64 `bson:"n"`
	}
	err := db.Collection("counters").FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&c)
	if err != nil && !errors.Is(err, driver.ErrNoDocuments) {
		t.Fatal(err)
	}
	return c.N
}

func document(t *testing.T, db *driver.Database, pos int64) bson.M {
	t.Helper()
	var m bson.M
	if err := db.Collection("events").FindOne(context.Background(), bson.D{{Key: "_id", Value: pos}}).Decode(&m); err != nil {
		t.Fatalf("document at %d: %v", pos, err)
	}
	return m
}

// TestCrashedWriterHole: a position allocated by a writer that never
// inserts holds back readers for the hole timeout, is then marked dead, and
// reading continues past it, for filtered readers too.
func TestCrashedWriterHole(t *testing.T) {
	t.Parallel()
	loc := newLocation(t)
	db := rawDB(t, loc)
	const timeout = time.Second
	s := openT(t, loc, mongo.WithHoleTimeout(timeout))

	e1 := appendOne(t, s, "a", "s1", eventstore.NoStream)
	hole := allocate(t, db)
	e3 := appendOne(t, s, "a", "s2", eventstore.NoStream)
	if hole != e1.Position+1 || e3.Position != hole+1 {
		t.Fatalf("positions %d, hole %d, %d", e1.Position, hole, e3.Position)
	}

	// What lies before the hole is returned at once.
	start := time.Now()
	if got := positions(read(t, s, eventstore.Query{AppID: "a"})); fmt.Sprint(got) != fmt.Sprint([]int64{e1.Position}) {
		t.Fatalf("read before the hole: %v", got)
	}
	if el := time.Since(start); el > timeout/2 {
		t.Fatalf("read of the settled prefix took %v", el)
	}
	// Past it, the reader waits for the hole, then marks it dead.
	got := read(t, s, eventstore.Query{AppID: "a", After: e1.Position})
	el := time.Since(start)
	if fmt.Sprint(positions(got)) != fmt.Sprint([]int64{e3.Position}) {
		t.Fatalf("read past the hole: %v", positions(got))
	}
	if el < timeout*8/10 || el > 10*timeout {
		t.Fatalf("read past the hole returned after %v, hole timeout %v", el, timeout)
	}
	if d := document(t, db, hole); d["dead"] != true {
		t.Fatalf("hole not marked dead: %v", d)
	}
	// The tombstone reads as nothing, and another process's Store passes
	// it without waiting.
	other := openT(t, loc, mongo.WithHoleTimeout(time.Hour))
	start = time.Now()
	if got := positions(read(t, other, eventstore.Query{})); fmt.Sprint(got) != fmt.Sprint([]int64{e1.Position, e3.Position}) {
		t.Fatalf("read all: %v", got)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("read over a tombstone took %v", el)
	}
	// The stream is untouched by the hole: appendable at its version.
	appendOne(t, other, "a", "s2", 1)
}

// TestTailHoleDoesNotBlock: an unfilled position with nothing committed
// after it holds nobody back.
func TestTailHoleDoesNotBlock(t *testing.T) {
	t.Parallel()
	loc := newLocation(t)
	db := rawDB(t, loc)
	s := openT(t, loc, mongo.WithHoleTimeout(time.Hour))
	e1 := appendOne(t, s, "a", "s", eventstore.NoStream)
	allocate(t, db)
	start := time.Now()
	if got := read(t, s, eventstore.Query{}); len(got) != 1 || got[0].Position != e1.Position {
		t.Fatalf("read: %v", positions(got))
	}
	if got := read(t, s, eventstore.Query{After: e1.Position}); len(got) != 0 {
		t.Fatalf("read after: %v", positions(got))
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("reads took %v", el)
	}
}

// TestCloseStopsWaitingRead: Close ends a Read waiting for a hole.
func TestCloseStopsWaitingRead(t *testing.T) {
	t.Parallel()
	loc := newLocation(t)
	db := rawDB(t, loc)
	s, err := openStore(loc, quiet(), mongo.WithHoleTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	allocate(t, db)
	appendOne(t, s, "a", "s", eventstore.NoStream)
	done := make(chan error, 1)
	go func() {
		_, err := s.Read(context.Background(), eventstore.Query{})
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("waiting read returned %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not stop a waiting read")
	}
	if _, err := s.Append(context.Background(), eventstore.Append{AppID: "a", StreamID: "s", Expected: 1,
		Events: []eventstore.Proposed{proposed("e", `{}`)}}); !errors.Is(err, eventstore.ErrClosed) {
		t.Fatalf("append after Close: %v", err)
	}
}

// TestNewOnClient: a Store on a caller's client leaves the client usable
// after Close.
func TestNewOnClient(t *testing.T) {
	t.Parallel()
	loc := newLocation(t)
	db := rawDB(t, loc)
	s, err := mongo.New(context.Background(), db.Client(), db.Name(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	e := appendOne(t, s, "a", "s", eventstore.NoStream)
	if got := read(t, s, eventstore.Query{}); len(got) != 1 || got[0].Position != e.Position {
		t.Fatalf("read: %v", got)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Client().Ping(context.Background(), nil); err != nil {
		t.Fatalf("client unusable after Close: %v", err)
	}
}

// delayFirst returns an insert delay that makes only the first insert slow.
func delayFirst(d time.Duration) func() time.Duration {
	var calls atomic.Int64
	return func() time.Duration {
		if calls.Add(1) == 1 {
			return d
		}
		return 0
	}
}

func waitCounter(t *testing.T, db *driver.Database, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for counter(t, db, "position") < n {
		if time.Now().After(deadline) {
			t.Fatalf("position counter did not reach %d", n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type appendResult struct {
	evs []eventstore.Event
	err error
}

// TestFilteredReadWaitsForEveryApp: the gap rule holds on the global
// position sequence: a reader of app A does not pass a position in flight
// even though an event of app B after it has committed.
func TestFilteredReadWaitsForEveryApp(t *testing.T) {
	t.Parallel()
	loc := newLocation(t)
	db := rawDB(t, loc)
	slow := openT(t, loc, mongo.WithInsertDelay(delayFirst(400*time.Millisecond)))
	fast := openT(t, loc)

	done := make(chan appendResult, 1)
	go func() {
		evs, err := slow.Append(context.Background(), eventstore.Append{AppID: "A", StreamID: "x", Expected: eventstore.NoStream,
			Events: []eventstore.Proposed{proposed("e", `{"slow":true}`)}})
		done <- appendResult{evs, err}
	}()
	waitCounter(t, db, 1)
	appendOne(t, fast, "B", "y", eventstore.NoStream)
	a2 := appendOne(t, fast, "A", "z", eventstore.NoStream)

	got := read(t, fast, eventstore.Query{AppID: "A"})
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := []int64{r.evs[0].Position, a2.Position}
	if fmt.Sprint(positions(got)) != fmt.Sprint(want) {
		t.Fatalf("reader of app A got %v, want %v: it passed a position in flight", positions(got), want)
	}
}

// TestSlowWriterLosesToTombstone: a writer whose insert comes after a reader
// declared its position dead starts again at a fresh position; it is
// acknowledged only once its event is readable there.
func TestSlowWriterLosesToTombstone(t *testing.T) {
	t.Parallel()
	loc := newLocation(t)
	db := rawDB(t, loc)
	slow := openT(t, loc, mongo.WithInsertDelay(delayFirst(1500*time.Millisecond)))
	reader := openT(t, loc, mongo.WithHoleTimeout(100*time.Millisecond))

	done := make(chan appendResult, 1)
	go func() {
		evs, err := slow.Append(context.Background(), eventstore.Append{AppID: "a", StreamID: "slow", Expected: eventstore.NoStream,
			Events: []eventstore.Proposed{proposed("e", `{"slow":true}`)}})
		done <- appendResult{evs, err}
	}()
	waitCounter(t, db, 1)
	fastEv := appendOne(t, reader, "a", "fast", eventstore.NoStream)
	if fastEv.Position != 2 {
		t.Fatalf("fast append at %d, want 2", fastEv.Position)
	}
	got := read(t, reader, eventstore.Query{})
	if fmt.Sprint(positions(got)) != "[2]" {
		t.Fatalf("read: %v, want [2] (position 1 dead)", positions(got))
	}
	select {
	case r := <-done:
		t.Fatalf("slow append returned while position 1 was dead and it was not retried yet: %+v", r)
	default:
	}
	if d := document(t, db, 1); d["dead"] != true {
		t.Fatalf("position 1: %v", d)
	}

	r := <-done
	if r.err != nil {
		t.Fatalf("slow append: %v", r.err)
	}
	ev := r.evs[0]
	if ev.Position <= 2 || ev.Version != 1 {
		t.Fatalf("slow append acknowledged at position %d version %d", ev.Position, ev.Version)
	}
	got = read(t, reader, eventstore.Query{After: 2})
	if len(got) != 1 || got[0].Position != ev.Position || got[0].StreamID != "slow" {
		t.Fatalf("acknowledged event not readable at %d: %v", ev.Position, got)
	}
	st, err := reader.ReadStream(context.Background(), "a", "slow", 0)
	if err != nil || len(st) != 1 || st[0].Position != ev.Position {
		t.Fatalf("ReadStream: %v %v", st, err)
	}
}

// TestMultiEventCommit: a multi-event append is one document; reads may
// split it across pages and resume inside it.
func TestMultiEventCommit(t *testing.T) {
	t.Parallel()
	loc := newLocation(t)
	db := rawDB(t, loc)
	s := openT(t, loc)
	ctx := context.Background()
	appendOne(t, s, "a", "other", eventstore.NoStream)
	evs, err := s.Append(ctx, eventstore.Append{AppID: "a", StreamID: "s", Expected: eventstore.NoStream,
		Events: []eventstore.Proposed{proposed("one", `{"i":1}`), proposed("two", `{"i":2}`), proposed("three", `{"i":3}`)}})
	if err != nil {
		t.Fatal(err)
	}
	d := document(t, db, evs[0].Position)
	if d["last"] != evs[2].Position || len(d["events"].(bson.A)) != 3 {
		t.Fatalf("commit document: %v", d)
	}
	var paged []int64
	q := eventstore.Query{AppID: "a", Limit: 1, After: evs[0].Position - 1}
	for {
		page := read(t, s, q)
		if len(page) == 0 {
			break
		}
		paged = append(paged, positions(page)...)
		q.After = page[len(page)-1].Position
	}
	if fmt.Sprint(paged) != fmt.Sprint(positions(evs)) {
		t.Fatalf("paged %v, want %v", paged, positions(evs))
	}
	if got := read(t, s, eventstore.Query{Types: []string{"two"}}); len(got) != 1 || got[0].Version != 2 || got[0].Position != evs[1].Position {
		t.Fatalf("type filter: %+v", got)
	}
	st, err := s.ReadStream(ctx, "a", "s", 1)
	if err != nil || len(st) != 2 || st[0].Version != 2 || st[1].Type != "three" {
		t.Fatalf("ReadStream after 1: %+v %v", st, err)
	}
	// Versions are exact: neither behind nor ahead of the stream.
	for _, expected := range []int64{2, 4} {
		_, err := s.Append(ctx, eventstore.Append{AppID: "a", StreamID: "s", Expected: expected, Events: []eventstore.Proposed{proposed("e", `{}`)}})
		var ce *eventstore.ConflictError
		if !errors.As(err, &ce) || ce.Actual != 3 {
			t.Fatalf("expected %d on a stream at 3: %v", expected, err)
		}
	}
	// Close persists the settled watermark for the next process.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := counter(t, db, "settled"); n != evs[2].Position {
		t.Fatalf("persisted watermark %d, want %d", n, evs[2].Position)
	}
}

// TestConcurrentAny: racing Any appends to one stream all succeed with
// distinct consecutive versions.
func TestConcurrentAny(t *testing.T) {
	t.Parallel()
	s := openT(t, newLocation(t))
	const writers, each = 12, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := s.Append(context.Background(), eventstore.Append{AppID: "a", StreamID: "s", Expected: eventstore.Any,
					Events: []eventstore.Proposed{proposed("e", `{}`), proposed("e", `{}`)}})
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Any append: %v", err)
	}
	st, err := s.ReadStream(context.Background(), "a", "s", 0)
	if err != nil || len(st) != writers*each*2 {
		t.Fatalf("stream has %d events (%v)", len(st), err)
	}
	for i, e := range st {
		if e.Version != int64(i+1) {
			t.Fatalf("version %d at index %d", e.Version, i)
		}
	}
	all := read(t, s, eventstore.Query{Limit: 1000})
	if len(all) != len(st) {
		t.Fatalf("read %d events, stream has %d", len(all), len(st))
	}
}

// TestPayloadFidelity: payloads are stored as BSON users can query and read
// back as the same JSON, Extended JSON look-alikes and big numbers included.
func TestPayloadFidelity(t *testing.T) {
	t.Parallel()
	loc := newLocation(t)
	db := rawDB(t, loc)
	s := openT(t, loc)
	payloads := []string{
		`{"$date": 1, "$oid": "x", "a.b": {"$numberLong": "5"}, "$inc": true}`,
		`{"big": 12345678901234567890, "pi": 3.141592653589793238462643383279503, "small": 1e-7, "neg": -0,
		  "i32": 2147483647, "i64": 2147483648, "f": 12.5, "huge": 1E400, "tiny": -1.5e-300}`,
		`{"s": "\u00e9\ud83d\ude00 \"quoted\" \\ \n\t\u0001 </script>", "arr": [1, [2, {"x": null}], true, false], "empty": {}, "ea": []}`,
		`[1, "two", {"three": 3}]`,
		`"just a string"`,
		`42`,
		`null`,
		`{"nul\u0000key": 1}`,
	}
	var props []eventstore.Proposed
	for _, p := range payloads {
		props = append(props, proposed("p", p))
	}
	evs, err := s.Append(context.Background(), eventstore.Append{AppID: "a", StreamID: "p", Expected: eventstore.NoStream, Events: props})
	if err != nil {
		t.Fatal(err)
	}
	got := read(t, s, eventstore.Query{})
	if len(got) != len(payloads) {
		t.Fatalf("read %d events", len(got))
	}
	for i, p := range payloads {
		if !jsonEquivalent(t, got[i].Payload, []byte(p)) {
			t.Errorf("payload %d: wrote %s, read %s", i, p, got[i].Payload)
		}
	}
	// Stored as typed BSON.
	var raw bson.Raw
	if err := db.Collection("events").FindOne(context.Background(), bson.D{{Key: "_id", Value: evs[0].Position}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	types := map[string]bson.Type{
		"events.1.payload.big":   bson.TypeDecimal128,
		"events.1.payload.f":     bson.TypeDouble,
		"events.1.payload.i32":   bson.TypeInt32,
		"events.1.payload.i64":   bson.TypeInt64,
		"events.0.payload.$date": bson.TypeInt32,
		"events.3.payload":       bson.TypeArray,
		"events.7.payload_json":  bson.TypeString,
		"events.0.time":          bson.TypeDateTime,
	}
	for path, want := range types {
		v, err := raw.LookupErr(strings.Split(path, ".")...)
		if err != nil || v.Type != want {
			t.Errorf("%s: type %v (%v), want %v", path, v.Type, err, want)
		}
	}
}

// jsonEquivalent compares JSON texts, numbers by exact value.
func jsonEquivalent(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	for _, x := range []struct {
		src []byte
		dst *any
	}{{a, &va}, {b, &vb}} {
		d := json.NewDecoder(strings.NewReader(string(x.src)))
		d.UseNumber()
		if err := d.Decode(x.dst); err != nil {
			t.Fatalf("%s: %v", x.src, err)
		}
	}
	return sameJSON(va, vb)
}

func sameJSON(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, v := range a {
			if w, ok := bm[k]; !ok || !sameJSON(v, w) {
				return false
			}
		}
		return true
	case []any:
		ba, ok := b.([]any)
		if !ok || len(a) != len(ba) {
			return false
		}
		for i := range a {
			if !sameJSON(a[i], ba[i]) {
				return false
			}
		}
		return true
	case json.Number:
		bn, ok := b.(json.Number)
		if !ok {
			return false
		}
		x, ok1 := new(big.Rat).SetString(string(a))
		y, ok2 := new(big.Rat).SetString(string(bn))
		return ok1 && ok2 && x.Cmp(y) == 0
	default:
		return a == b
	}
}

// TestOpenUnreachable: Open on a dead address fails within the default
// connect timeout, with an error transport can map to 503.
func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	start := time.Now()
	s, err := mongo.Open(context.Background(), "mongodb://"+addr+"/", "x")
	el := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a dead address")
	}
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("error does not wrap ErrUnavailable: %v", err)
	}
	if el > mongo.DefaultConnectTimeout+3*time.Second {
		t.Fatalf("Open took %v to fail", el)
	}
	t.Logf("Open failed after %v: %v", el.Round(time.Millisecond), err)
}

// TestResumesAfterOutage: while the server is unreachable operations fail
// with ErrUnavailable; once it is back the same Store works again.
func TestResumesAfterOutage(t *testing.T) {
	t.Parallel()
	loc := newLocation(t)
	uri, db, _ := splitLocation(loc)
	p, proxied := mongotest.StartProxy(t, uri)
	s := openT(t, proxied+"#"+db)
	ctx := context.Background()

	appendOne(t, s, "a", "s", eventstore.NoStream)
	p.SetUp(false)
	start := time.Now()
	_, err := s.Append(ctx, eventstore.Append{AppID: "a", StreamID: "s", Expected: 1, Events: []eventstore.Proposed{proposed("e", `{}`)}})
	if !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("append during outage: %v", err)
	}
	if _, err := s.Read(ctx, eventstore.Query{}); !errors.Is(err, eventstore.ErrUnavailable) {
		t.Fatalf("read during outage: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("failing during the outage took %v", el)
	}
	p.SetUp(true)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err = s.Append(ctx, eventstore.Append{AppID: "a", StreamID: "s", Expected: 1, Events: []eventstore.Proposed{proposed("e", `{}`)}})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := read(t, s, eventstore.Query{}); len(got) != 2 {
		t.Fatalf("after recovery read %d events, want 2", len(got))
	}
}
