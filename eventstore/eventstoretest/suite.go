// Package eventstoretest is the conformance suite every eventstore adapter
// passes, in the manner of watermill's pubsub/tests: an adapter's test calls
// Run with a Harness that opens fresh stores.
package eventstoretest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventbase/eventbase/eventstore"
)

// Harness tells the suite how to make stores of one adapter.
type Harness struct {
	// NewLocation returns a fresh, empty store location (a file path, a
	// database name) that Open accepts, reachable from a child process.
	NewLocation func(t *testing.T) string
	// Open opens the store at a location. It is called in child processes
	// too, so it must not use t.
	Open func(location string) (eventstore.Store, error)
}

const childEnv = "EVENTSTORETEST_CHILD_LOCATION"

// RunChildIfRequested turns this test binary into the append loop of the
// durability test when the suite started it as a child. Call it first in
// TestMain.
func RunChildIfRequested(open func(location string) (eventstore.Store, error)) {
	loc := os.Getenv(childEnv)
	if loc == "" {
		return
	}
	s, err := open(loc)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	w := bufio.NewWriter(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	// Four concurrent appenders exercise group commit; every acknowledged
	// append is printed (and flushed) only after Append returned.
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ; i++ {
				evs, err := s.Append(context.Background(), eventstore.Append{
					AppID: "app", StreamID: fmt.Sprintf("s%d", g), Expected: int64(i),
					Events: []eventstore.Proposed{{Type: "tick", Payload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}},
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					os.Exit(4)
				}
				mu.Lock()
				fmt.Fprintf(w, "%d %s %d\n", evs[0].Position, evs[0].StreamID, evs[0].Version)
				w.Flush()
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	os.Exit(0)
}

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	open := func(t *testing.T) eventstore.Store {
		t.Helper()
		s, err := h.Open(h.NewLocation(t))
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	t.Run("AppendAndReadStream", func(t *testing.T) { testAppendAndReadStream(t, open(t)) })
	t.Run("ExpectedVersions", func(t *testing.T) { testExpectedVersions(t, open(t)) })
	t.Run("ConcurrentSameVersion", func(t *testing.T) { testConcurrentSameVersion(t, open(t)) })
	t.Run("ReadFilters", func(t *testing.T) { testReadFilters(t, open(t)) })
	t.Run("AppIsolation", func(t *testing.T) { testAppIsolation(t, open(t)) })
	t.Run("FollowWithConcurrentWriters", func(t *testing.T) { testFollow(t, open(t)) })
	t.Run("Changed", func(t *testing.T) { testChanged(t, open(t)) })
	t.Run("Durability", func(t *testing.T) { testDurability(t, h) })
	t.Run("InvalidAppend", func(t *testing.T) { testInvalid(t, open(t)) })
	t.Run("Head", func(t *testing.T) { testHead(t, open(t)) })
}

func ev(typ, payload string) eventstore.Proposed {
	return eventstore.Proposed{Type: typ, Payload: json.RawMessage(payload), Actor: "tester", RequestID: "req-1"}
}

func mustAppend(t *testing.T, s eventstore.Store, a eventstore.Append) []eventstore.Event {
	t.Helper()
	evs, err := s.Append(context.Background(), a)
	if err != nil {
		t.Fatalf("append %s/%s: %v", a.AppID, a.StreamID, err)
	}
	return evs
}

func testAppendAndReadStream(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	p := ev("created", `{"name":"a","n":1.5,"nested":{"x":[1,2]}}`)
	p.Time = at
	evs := mustAppend(t, s, eventstore.Append{AppID: "a1", StreamID: "doc-1", Expected: eventstore.NoStream,
		Events: []eventstore.Proposed{p, ev("updated", `{"n":2}`)}})
	if len(evs) != 2 || evs[0].Version != 1 || evs[1].Version != 2 {
		t.Fatalf("versions: %+v", evs)
	}
	if evs[0].Position <= 0 || evs[1].Position <= evs[0].Position {
		t.Fatalf("positions not increasing: %d, %d", evs[0].Position, evs[1].Position)
	}
	if !evs[0].Time.Equal(at) {
		t.Fatalf("time: got %v want %v", evs[0].Time, at)
	}
	if evs[1].Time.IsZero() {
		t.Fatal("store did not set the time of an event without one")
	}
	got, err := s.ReadStream(ctx, "a1", "doc-1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("ReadStream: got %d events", len(got))
	}
	e := got[0]
	if e.AppID != "a1" || e.StreamID != "doc-1" || e.Type != "created" || e.Actor != "tester" || e.RequestID != "req-1" || !e.Time.Equal(at) || e.Position != evs[0].Position {
		t.Fatalf("read back %+v", e)
	}
	assertJSONEqual(t, e.Payload, `{"name":"a","n":1.5,"nested":{"x":[1,2]}}`)
	after, err := s.ReadStream(ctx, "a1", "doc-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || after[0].Version != 2 {
		t.Fatalf("ReadStream after 1: %+v", after)
	}
	none, err := s.ReadStream(ctx, "a1", "missing", 0)
	if err != nil || len(none) != 0 {
		t.Fatalf("missing stream: %v %v", none, err)
	}
}

func testExpectedVersions(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	mustAppend(t, s, eventstore.Append{AppID: "a", StreamID: "s", Expected: eventstore.NoStream, Events: []eventstore.Proposed{ev("e", `{}`)}})
	_, err := s.Append(ctx, eventstore.Append{AppID: "a", StreamID: "s", Expected: eventstore.NoStream, Events: []eventstore.Proposed{ev("e", `{}`)}})
	var ce *eventstore.ConflictError
	if !errors.As(err, &ce) || !errors.Is(err, eventstore.ErrConflict) || ce.Actual != 1 || ce.Expected != 0 {
		t.Fatalf("NoStream on existing stream: %v", err)
	}
	_, err = s.Append(ctx, eventstore.Append{AppID: "a", StreamID: "s", Expected: 5, Events: []eventstore.Proposed{ev("e", `{}`)}})
	if !errors.Is(err, eventstore.ErrConflict) {
		t.Fatalf("wrong expected version: %v", err)
	}
	evs := mustAppend(t, s, eventstore.Append{AppID: "a", StreamID: "s", Expected: 1, Events: []eventstore.Proposed{ev("e", `{}`)}})
	if evs[0].Version != 2 {
		t.Fatalf("version %d", evs[0].Version)
	}
	evs = mustAppend(t, s, eventstore.Append{AppID: "a", StreamID: "s", Expected: eventstore.Any, Events: []eventstore.Proposed{ev("e", `{}`), ev("e", `{}`)}})
	if evs[0].Version != 3 || evs[1].Version != 4 {
		t.Fatalf("Any: versions %d %d", evs[0].Version, evs[1].Version)
	}
	// A failed append leaves nothing behind.
	all, err := s.ReadStream(ctx, "a", "s", 0)
	if err != nil || len(all) != 4 {
		t.Fatalf("stream has %d events (%v), want 4", len(all), err)
	}
	// The same stream id in another app is another stream.
	mustAppend(t, s, eventstore.Append{AppID: "b", StreamID: "s", Expected: eventstore.NoStream, Events: []eventstore.Proposed{ev("e", `{}`)}})
}

func testConcurrentSameVersion(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	mustAppend(t, s, eventstore.Append{AppID: "a", StreamID: "race", Expected: eventstore.NoStream, Events: []eventstore.Proposed{ev("e", `{}`)}})
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, conflicts := 0, 0
	var others []error
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			_, err := s.Append(ctx, eventstore.Append{AppID: "a", StreamID: "race", Expected: 1,
				Events: []eventstore.Proposed{ev("e", fmt.Sprintf(`{"writer":%d}`, i))}})
			mu.Lock()
			defer mu.Unlock()
			var ce *eventstore.ConflictError
			switch {
			case err == nil:
				wins++
			case errors.As(err, &ce):
				conflicts++
			default:
				others = append(others, err)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	if wins != 1 || conflicts != n-1 || len(others) != 0 {
		t.Fatalf("wins=%d conflicts=%d other errors=%v; want 1, %d, none", wins, conflicts, others, n-1)
	}
	evs, err := s.ReadStream(ctx, "a", "race", 0)
	if err != nil || len(evs) != 2 {
		t.Fatalf("stream has %d events (%v), want 2", len(evs), err)
	}
}

func testReadFilters(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		typ := "even"
		if i%2 == 1 {
			typ = "odd"
		}
		p := ev(typ, fmt.Sprintf(`{"i":%d}`, i))
		p.Actor = fmt.Sprintf("user-%d", i%3)
		p.Time = t0.Add(time.Duration(i) * time.Hour)
		mustAppend(t, s, eventstore.Append{AppID: "f", StreamID: fmt.Sprintf("s%d", i%2), Expected: eventstore.Any, Events: []eventstore.Proposed{p}})
	}
	payloadIs := func(evs []eventstore.Event) []int {
		var out []int
		for _, e := range evs {
			var p struct{ I int }
			_ = json.Unmarshal(e.Payload, &p)
			out = append(out, p.I)
		}
		return out
	}
	cases := []struct {
		name string
		q    eventstore.Query
		want []int
	}{
		{"all", eventstore.Query{AppID: "f"}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"limit", eventstore.Query{AppID: "f", Limit: 3}, []int{0, 1, 2}},
		{"type", eventstore.Query{AppID: "f", Types: []string{"odd"}}, []int{1, 3, 5, 7, 9}},
		{"types", eventstore.Query{AppID: "f", Types: []string{"odd", "even"}, Limit: 4}, []int{0, 1, 2, 3}},
		{"stream", eventstore.Query{AppID: "f", StreamID: "s0"}, []int{0, 2, 4, 6, 8}},
		{"actor", eventstore.Query{AppID: "f", Actor: "user-1"}, []int{1, 4, 7}},
		{"time range", eventstore.Query{AppID: "f", From: t0.Add(2 * time.Hour), To: t0.Add(4 * time.Hour)}, []int{2, 3, 4}},
		{"combined", eventstore.Query{AppID: "f", Types: []string{"even"}, Actor: "user-0"}, []int{0, 6}},
	}
	for _, c := range cases {
		got, err := s.Read(ctx, c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if fmt.Sprint(payloadIs(got)) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v want %v", c.name, payloadIs(got), c.want)
		}
	}
	// Paging with After resumes exactly after the last seen position.
	var seen []int
	q := eventstore.Query{AppID: "f", Limit: 4}
	for {
		page, err := s.Read(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		seen = append(seen, payloadIs(page)...)
		q.After = page[len(page)-1].Position
	}
	if fmt.Sprint(seen) != fmt.Sprint([]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("paging: %v", seen)
	}
}

func testAppIsolation(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		mustAppend(t, s, eventstore.Append{AppID: "A", StreamID: "shared", Expected: eventstore.Any, Events: []eventstore.Proposed{ev("a", `{}`)}})
		mustAppend(t, s, eventstore.Append{AppID: "B", StreamID: "shared", Expected: eventstore.Any, Events: []eventstore.Proposed{ev("b", `{}`)}})
	}
	for _, app := range []string{"A", "B"} {
		evs, err := s.Read(ctx, eventstore.Query{AppID: app})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 5 {
			t.Fatalf("app %s: %d events, want 5", app, len(evs))
		}
		for _, e := range evs {
			if e.AppID != app {
				t.Fatalf("reading app %s returned an event of app %s", app, e.AppID)
			}
		}
		st, err := s.ReadStream(ctx, app, "shared", 0)
		if err != nil || len(st) != 5 {
			t.Fatalf("ReadStream %s: %d (%v)", app, len(st), err)
		}
		for _, e := range st {
			if e.AppID != app {
				t.Fatalf("ReadStream of app %s returned app %s", app, e.AppID)
			}
		}
	}
	all, err := s.Read(ctx, eventstore.Query{})
	if err != nil || len(all) != 10 {
		t.Fatalf("all apps: %d (%v)", len(all), err)
	}
}

func testFollow(t *testing.T, s eventstore.Store) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const writers, perWriter = 8, 40
	var (
		mu       sync.Mutex
		received []eventstore.Event
	)
	followErr := make(chan error, 1)
	fctx, stopFollow := context.WithCancel(ctx)
	go func() {
		followErr <- eventstore.Follow(fctx, s, eventstore.Query{Limit: 7}, func(evs []eventstore.Event) error {
			mu.Lock()
			received = append(received, evs...)
			mu.Unlock()
			return nil
		})
	}()
	var wg sync.WaitGroup
	acked := make(chan eventstore.Event, writers*perWriter)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				evs, err := s.Append(ctx, eventstore.Append{AppID: "f", StreamID: fmt.Sprintf("w%d", w), Expected: int64(i),
					Events: []eventstore.Proposed{ev("tick", fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))}})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				acked <- evs[0]
			}
		}(w)
	}
	wg.Wait()
	close(acked)
	want := map[int64]eventstore.Event{}
	for e := range acked {
		want[e.Position] = e
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(received)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Give a duplicate, if the follower would deliver one, time to arrive.
	time.Sleep(300 * time.Millisecond)
	stopFollow()
	if err := <-followErr; err != nil {
		t.Fatalf("follow: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(received) != len(want) {
		t.Fatalf("follower received %d events, writers acknowledged %d", len(received), len(want))
	}
	for i, e := range received {
		if i > 0 && e.Position <= received[i-1].Position {
			t.Fatalf("out of order or duplicate: position %d after %d", e.Position, received[i-1].Position)
		}
		w, ok := want[e.Position]
		if !ok || w.StreamID != e.StreamID || w.Version != e.Version {
			t.Fatalf("follower got %s/%d at position %d that no writer acknowledged there", e.StreamID, e.Version, e.Position)
		}
	}
	// Per stream, versions arrive 1..perWriter with no hole.
	next := map[string]int64{}
	for _, e := range received {
		next[e.StreamID]++
		if e.Version != next[e.StreamID] {
			t.Fatalf("stream %s: version %d arrived, want %d", e.StreamID, e.Version, next[e.StreamID])
		}
	}
}

func testChanged(t *testing.T, s eventstore.Store) {
	ch := s.Changed()
	select {
	case <-ch:
		t.Fatal("Changed fired before any append")
	default:
	}
	mustAppend(t, s, eventstore.Append{AppID: "a", StreamID: "s", Expected: eventstore.Any, Events: []eventstore.Proposed{ev("e", `{}`)}})
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed did not fire after an append")
	}
}

func testHead(t *testing.T, s eventstore.Store) {
	h, ok := s.(eventstore.Header)
	if !ok {
		t.Skip("the adapter does not implement eventstore.Header")
	}
	ctx := context.Background()
	if p, err := h.Head(ctx); err != nil || p != 0 {
		t.Fatalf("empty store head %d (%v)", p, err)
	}
	evs := mustAppend(t, s, eventstore.Append{AppID: "a", StreamID: "s", Expected: eventstore.NoStream, Events: []eventstore.Proposed{ev("e", `{}`), ev("e", `{}`)}})
	if p, err := h.Head(ctx); err != nil || p < evs[1].Position {
		t.Fatalf("head %d after appending up to %d (%v)", p, evs[1].Position, err)
	}
}

func testInvalid(t *testing.T, s eventstore.Store) {
	ctx := context.Background()
	bad := []eventstore.Append{
		{AppID: "", StreamID: "s", Events: []eventstore.Proposed{ev("e", `{}`)}},
		{AppID: "a", StreamID: "", Events: []eventstore.Proposed{ev("e", `{}`)}},
		{AppID: "a", StreamID: "s"},
		{AppID: "a", StreamID: "s", Events: []eventstore.Proposed{{Type: "", Payload: json.RawMessage(`{}`)}}},
		{AppID: "a", StreamID: "s", Events: []eventstore.Proposed{{Type: "e", Payload: json.RawMessage(`{bad`)}}},
		{AppID: "a", StreamID: "s", Expected: -7, Events: []eventstore.Proposed{ev("e", `{}`)}},
	}
	for i, a := range bad {
		if _, err := s.Append(ctx, a); err == nil {
			t.Errorf("bad append %d accepted", i)
		}
	}
	evs, err := s.Read(ctx, eventstore.Query{AppID: "a"})
	if err != nil || len(evs) != 0 {
		t.Fatalf("invalid appends left %d events (%v)", len(evs), err)
	}
}

// testDurability kills a child process that appends in a loop with SIGKILL
// and checks that every append it acknowledged survived.
func testDurability(t *testing.T, h Harness) {
	if testing.Short() {
		t.Skip("durability kill test skipped in -short mode")
	}
	loc := h.NewLocation(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+loc)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr safeBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		pos     int64
		stream  string
		version int64
	}
	var acks []ack
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(20 * time.Second)
	for sc.Scan() {
		var a ack
		if _, err := fmt.Sscanf(sc.Text(), "%d %s %d", &a.pos, &a.stream, &a.version); err != nil {
			t.Fatalf("child printed %q: %v", sc.Text(), err)
		}
		acks = append(acks, a)
		if len(acks) >= 300 || time.Now().After(deadline) {
			break
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if len(acks) == 0 {
		t.Fatalf("child acknowledged nothing; stderr: %s", stderr.String())
	}
	s, err := h.Open(loc)
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	got := map[int64]eventstore.Event{}
	q := eventstore.Query{AppID: "app"}
	for {
		page, err := s.Read(context.Background(), q)
		if err != nil {
			t.Fatalf("read after SIGKILL: %v", err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			got[e.Position] = e
		}
		q.After = page[len(page)-1].Position
	}
	for _, a := range acks {
		e, ok := got[a.pos]
		if !ok || e.StreamID != a.stream || e.Version != a.version {
			t.Fatalf("acknowledged append %s/%d at %d lost after SIGKILL", a.stream, a.version, a.pos)
		}
	}
	// Streams are intact: versions 1..n with no hole, and appendable.
	for g := 0; g < 4; g++ {
		st, err := s.ReadStream(context.Background(), "app", fmt.Sprintf("s%d", g), 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range st {
			if e.Version != int64(i+1) {
				t.Fatalf("stream s%d has version %d at index %d", g, e.Version, i)
			}
		}
		if _, err := s.Append(context.Background(), eventstore.Append{AppID: "app", StreamID: fmt.Sprintf("s%d", g), Expected: int64(len(st)),
			Events: []eventstore.Proposed{ev("after", `{}`)}}); err != nil {
			t.Fatalf("append after reopen: %v", err)
		}
	}
	positions := make([]int64, 0, len(got))
	for p := range got {
		positions = append(positions, p)
	}
	sort.Slice(positions, func(i, j int) bool { return positions[i] < positions[j] })
	t.Logf("child acknowledged %d appends; %d events present after SIGKILL (last position %s)", len(acks), len(got), strconv.FormatInt(positions[len(positions)-1], 10))
}

func assertJSONEqual(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("payload %q: %v", got, err)
	}
	_ = json.Unmarshal([]byte(want), &b)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		t.Fatalf("payload: got %s want %s", ja, jb)
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}
