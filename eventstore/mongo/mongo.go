// Package mongo is the MongoDB event store. It needs only what a standalone
// mongod has (no transactions, no change streams), so it runs on a single
// server as well as on replica sets.
//
// # Documents
//
// The collection "events" holds one document per successful Append, a
// commit:
//
//	{_id: 41, last: 42, app: "a1", stream: "doc-1", version: 7,
//	 events: [{type, time, ns, actor, request_id, payload}, ...]}
//
// _id is the global position of the commit's first event and last the
// position of its last one; event i has position _id+i and stream version
// version+i. time is a BSON date, ns the same instant in Unix nanoseconds
// (which is what reads use), and payload the JSON payload as a BSON value
// (see payload.go). Because a commit is a single document, a multi-event
// append is atomic for readers without transactions: every event of it is
// visible, or none is. The collection "counters" holds the position
// allocator and a persisted settled watermark (below).
//
// # Concurrency per stream
//
// An append reads the stream's current version and refuses a mismatching
// Expected with a *eventstore.ConflictError; otherwise it inserts its commit
// with version = current+1. A unique index on (app, stream, version) makes
// two appends built on the same version collide: one insert fails with a
// duplicate key and that append is a conflict (or, for Any, retried from a
// fresh read). Every commit starts exactly one past a version that existed
// when it was checked, and no two commits start at the same version, so
// streams never get holes or overlaps.
//
// # Positions and gaps
//
// Positions come from a counter in "counters" ($inc by the number of events;
// the concurrent appends of one Store share one increment) before the
// insert, so commits become visible out of position order: position P+1 may
// be readable while P is still in flight. Read therefore returns only events
// in the settled prefix: the positions up to which every position holds a
// commit or a tombstone, a document {_id: P, last: P, version: -P, dead:
// true} saying that P will never hold an event. The settled watermark is
// cached per Store and persisted in "counters" now and then, so that a new
// process need not rescan the log; extending it is a scan of the index
// (last, _id) from the watermark, covered on a real server. Read returns only
// events at positions that were settled before its query for them began: a
// position that settles during the query may hold an event the query
// missed. Filters do not change this: the gap rule applies to the global
// position sequence, whatever the reader selects.
//
// A hole (an allocated position without a document) followed by committed
// events is waited for. Once this Store has seen it for the hole timeout,
// the reader inserts a tombstone with _id = P. The unique _id makes this
// race-free: if the writer's insert comes later it fails with a duplicate
// key, and the writer starts again at fresh positions, so its append still
// succeeds and is never acknowledged while invisible. A writer whose insert
// fails for any other reason (a conflict, the network) tombstones its own
// positions, so readers need not wait. Readers tombstone missing positions in
// ascending order and stop at the first that turns out taken, so an interior
// position of an allocation is only marked dead after the allocation's first
// position was: only the allocation's writer could have filled it, with a
// commit whose _id is that first position.
//
// # Failures
//
// Driver and server failures are returned wrapping eventstore.ErrUnavailable.
// The store keeps no state that a failure could break: the driver reconnects
// by itself and the next call simply works.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eventbase/eventbase/eventstore"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"
)

// Defaults of the options.
const (
	// DefaultHoleTimeout is how long a reader waits for an allocated
	// position to be filled before marking it dead.
	DefaultHoleTimeout = 2 * time.Second
	// DefaultConnectTimeout bounds server selection and connecting when the
	// URI does not say otherwise, so Open fails promptly on a dead server.
	DefaultConnectTimeout = 5 * time.Second
)

const (
	// writeTimeout bounds an append's writes once positions are allocated;
	// they run detached from the caller's context so that a cancelled
	// caller does not leave the outcome unknown or a hole behind.
	writeTimeout = 30 * time.Second
	// maxPositionRetries bounds how often an append starts again after
	// readers declared its positions dead.
	maxPositionRetries = 3
	// maxAnyRetries bounds the retries of an Any append losing races.
	maxAnyRetries = 200
	// scanBatch is the page size of the settled-prefix scan.
	scanBatch = 4096
	// maxHoles bounds the positions one scan tracks as missing.
	maxHoles = 4096
	// persistEvery is how far the watermark advances between writes of it.
	persistEvery = 1024
	// maxDocumentSize is MongoDB's limit on one document.
	maxDocumentSize = 16 << 20
)

const (
	counterPosition = "position"
	counterSettled  = "settled"
)

// durable returns the write concern used unless the URI sets one:
// acknowledged by a majority and journaled, so that an acknowledged append
// survives a crash.
func durable() *writeconcern.WriteConcern {
	j := true
	return &writeconcern.WriteConcern{W: "majority", Journal: &j}
}

// Option configures a Store.
type Option func(*config)

type config struct {
	holeTimeout time.Duration
	insertDelay func() time.Duration
	logger      *slog.Logger
	now         func() time.Time
}

// WithHoleTimeout sets how long a reader waits for an allocated but unfilled
// position before marking it dead (default DefaultHoleTimeout). It must be
// well above the time an insert takes, or slow writers have to retry.
func WithHoleTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.holeTimeout = d
		}
	}
}

// WithInsertDelay makes every append sleep for delay() between allocating
// its positions and inserting its commit. It is for tests, to make commits
// land out of position order.
func WithInsertDelay(delay func() time.Duration) Option {
	return func(c *config) { c.insertDelay = delay }
}

// WithLogger sets the logger for gap handling (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// Store is the MongoDB event store. It is safe for concurrent use, and for
// use by several processes on one database.
type Store struct {
	client    *mongo.Client
	ownClient bool
	events    *mongo.Collection
	counters  *mongo.Collection
	cfg       config
	sig       eventstore.Signal

	// scan serialises extensions of the settled watermark (a one-slot
	// semaphore, so that waiting for it honours contexts).
	scan chan struct{}

	allocMu    sync.Mutex
	allocQueue []*allocation // waiting for the running batch to finish
	allocating bool          // a caller is running a batch

	mu        sync.Mutex
	settled   int64               // every position <= settled holds a commit or a tombstone
	persisted int64               // the watermark last written to counters
	holes     map[int64]time.Time // unfilled positions > settled, with when this Store first saw them
	closed    bool
	done      chan struct{}
	ops       sync.WaitGroup
}

// Open connects to the MongoDB at uri and opens the event store in database,
// creating its collections and indexes if needed. It fails with an error
// wrapping eventstore.ErrUnavailable if no server answers within the
// server-selection timeout (DefaultConnectTimeout unless the URI sets
// serverSelectionTimeoutMS). Writes use the URI's write concern, or majority
// with journaling if it sets none.
func Open(ctx context.Context, uri, database string, opts ...Option) (*Store, error) {
	co := options.Client().ApplyURI(uri)
	if err := co.Validate(); err != nil {
		return nil, fmt.Errorf("eventstore/mongo: %w", err)
	}
	if co.ServerSelectionTimeout == nil {
		co.SetServerSelectionTimeout(DefaultConnectTimeout)
	}
	if co.ConnectTimeout == nil {
		co.SetConnectTimeout(DefaultConnectTimeout)
	}
	if co.WriteConcern == nil {
		co.SetWriteConcern(durable())
	}
	client, err := mongo.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("eventstore/mongo: %w", err)
	}
	if err := client.Ping(ctx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("eventstore/mongo: cannot reach %s: %w", strings.Join(co.Hosts, ","), unavailable(err))
	}
	s, err := newStore(ctx, client, client.Database(database), opts)
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	s.ownClient = true
	return s, nil
}

// New opens the event store in database on a connected client, which the
// caller keeps and disconnects after Close. Writes use majority write
// concern with journaling.
func New(ctx context.Context, client *mongo.Client, database string, opts ...Option) (*Store, error) {
	return newStore(ctx, client, client.Database(database, options.Database().SetWriteConcern(durable())), opts)
}

func newStore(ctx context.Context, client *mongo.Client, db *mongo.Database, opts []Option) (*Store, error) {
	cfg := config{holeTimeout: DefaultHoleTimeout, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	s := &Store{
		client:   client,
		events:   db.Collection("events"),
		counters: db.Collection("counters"),
		cfg:      cfg,
		scan:     make(chan struct{}, 1),
		holes:    map[int64]time.Time{},
		done:     make(chan struct{}),
	}
	if err := s.setup(ctx); err != nil {
		return nil, fmt.Errorf("eventstore/mongo: set up %s: %w", db.Name(), err)
	}
	return s, nil
}

// setup creates the indexes and counters (idempotently) and loads the
// persisted watermark.
func (s *Store) setup(ctx context.Context) error {
	_, err := s.events.Indexes().CreateMany(ctx, []mongo.IndexModel{
		{
			// Optimistic concurrency. Tombstones have no app or stream and
			// version -position, so they never collide here.
			Keys:    bson.D{e("app", 1), e("stream", 1), e("version", 1)},
			Options: options.Index().SetName("app_stream_version").SetUnique(true),
		},
		// The settled-prefix scan, covered by this index, and global reads.
		{Keys: bson.D{e("last", 1), e("_id", 1)}, Options: options.Index().SetName("last_id")},
		{Keys: bson.D{e("app", 1), e("last", 1)}, Options: options.Index().SetName("app_last")},
		{Keys: bson.D{e("app", 1), e("events.type", 1), e("last", 1)}, Options: options.Index().SetName("app_type_last")},
	})
	if err != nil {
		return unavailable(err)
	}
	// The counter exists before the first append, so that concurrent first
	// appends do not race to upsert it.
	_, err = s.counters.UpdateOne(ctx, bson.D{e("_id", counterPosition)},
		bson.D{e("$setOnInsert", bson.D{e("n", int64(0))})}, options.UpdateOne().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return unavailable(err)
	}
	var w struct {
		N int64 `bson:"n"`
	}
	switch err := s.counters.FindOne(ctx, bson.D{e("_id", counterSettled)}).Decode(&w); {
	case err == nil:
		s.settled, s.persisted = w.N, w.N
	case !errors.Is(err, mongo.ErrNoDocuments):
		return unavailable(err)
	}
	return nil
}

func e(key string, value any) bson.E { return bson.E{Key: key, Value: value} }

func unavailable(err error) error {
	return fmt.Errorf("%w: %w", eventstore.ErrUnavailable, err)
}

// begin registers an operation, failing once the store is closed.
func (s *Store) begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	s.ops.Add(1)
	return nil
}

// callerErr prefers the caller's context error to the failure it caused: a
// cancelled request is not an unavailable store.
func callerErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil && errors.Is(err, eventstore.ErrUnavailable) {
		return ctx.Err()
	}
	return err
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, a eventstore.Append) ([]eventstore.Event, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if err := s.begin(); err != nil {
		return nil, err
	}
	defer s.ops.Done()
	evs, err := s.append(ctx, a)
	return evs, callerErr(ctx, err)
}

func (s *Store) append(ctx context.Context, a eventstore.Append) ([]eventstore.Event, error) {
	now := s.cfg.now().UTC()
	out := make([]eventstore.Event, len(a.Events))
	for i, p := range a.Events {
		t := p.Time
		if t.IsZero() {
			t = now
		}
		payload := p.Payload
		if len(payload) == 0 {
			payload = []byte("{}")
		}
		out[i] = eventstore.Event{AppID: a.AppID, StreamID: a.StreamID, Type: p.Type,
			Time: time.Unix(0, t.UnixNano()).UTC(), Actor: p.Actor, RequestID: p.RequestID, Payload: payload}
	}
	events := appendEventsArray(nil, out)
	if len(events) > maxDocumentSize-1024 {
		return nil, fmt.Errorf("eventstore/mongo: append of %d bytes exceeds MongoDB's document size limit", len(events))
	}

	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cur, err := s.streamVersion(ctx, a.AppID, a.StreamID)
		if err != nil {
			return nil, err
		}
		if a.Expected != eventstore.Any && a.Expected != cur {
			return nil, &eventstore.ConflictError{AppID: a.AppID, StreamID: a.StreamID, Expected: a.Expected, Actual: cur}
		}
		first, err := s.commit(ctx, a, cur+1, events)
		if err == nil {
			for i := range out {
				out[i].Position = first + int64(i)
				out[i].Version = cur + 1 + int64(i)
			}
			s.sig.Notify()
			return out, nil
		}
		if !errors.Is(err, errVersionTaken) {
			return nil, err
		}
		// Another append took version cur+1 after we read cur.
		if a.Expected != eventstore.Any || attempt >= maxAnyRetries {
			actual, verr := s.streamVersion(ctx, a.AppID, a.StreamID)
			if verr != nil {
				return nil, verr
			}
			return nil, &eventstore.ConflictError{AppID: a.AppID, StreamID: a.StreamID, Expected: a.Expected, Actual: actual}
		}
		// Jitter so that racing Any appends do not collide in lock step.
		if err := sleep(ctx, time.Duration(rand.Int64N(int64(time.Millisecond)*int64(min(attempt+1, 10))))); err != nil {
			return nil, err
		}
	}
}

// errVersionTaken reports that another commit holds the version an append
// was built on.
var errVersionTaken = errors.New("version taken")

// streamVersion returns the version of the stream's last event (0 if none).
func (s *Store) streamVersion(ctx context.Context, app, stream string) (int64, error) {
	raw, err := s.events.FindOne(ctx, bson.D{e("app", app), e("stream", stream)},
		options.FindOne().SetSort(bson.D{e("version", -1)}).SetProjection(bson.D{e("last", 1), e("version", 1)})).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, unavailable(err)
	}
	c, err := decodeCommit(raw, false)
	if err != nil {
		return 0, unavailable(err)
	}
	return c.version + c.last - c.id, nil
}

// commit allocates positions for the events and inserts them as one commit
// with the given first version. It returns the first position, or
// errVersionTaken if the version is already taken, with the positions marked
// dead either way if the commit is not there.
func (s *Store) commit(ctx context.Context, a eventstore.Append, version int64, events []byte) (int64, error) {
	// From here on the outcome must be settled whatever the caller does:
	// positions allocated and abandoned would stall every reader for the
	// hole timeout, and an insert cut short leaves its outcome unknown.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	k := int64(len(a.Events))
	for try := 0; ; try++ {
		last, err := s.allocate(ctx, k)
		if err != nil {
			return 0, err
		}
		first := last - k + 1
		if s.cfg.insertDelay != nil {
			time.Sleep(s.cfg.insertDelay())
		}
		doc := commitDocument(first, last, a.AppID, a.StreamID, version, events)
		_, err = s.events.InsertOne(ctx, doc)
		if err == nil {
			return first, nil
		}
		switch st, serr := s.abandon(ctx, first, last, a.AppID, a.StreamID, version); {
		case serr != nil:
			// Unknown whether the commit is there: say so. If it is not,
			// readers will mark the positions dead.
			return 0, unavailable(errors.Join(err, serr))
		case st == committed:
			// The insert took effect though its reply was an error.
			return first, nil
		case st == freedByUs && mongo.IsDuplicateKeyError(err):
			return 0, errVersionTaken
		case st == freedByUs:
			return 0, unavailable(err)
		default: // deadByReader, allocatedTwice: the commit is not there
			if try+1 >= maxPositionRetries {
				return 0, unavailable(fmt.Errorf("positions %d-%d were lost %d times; the hole timeout (%v) is too short for this server", first, last, try+1, s.cfg.holeTimeout))
			}
			msg := "eventstore/mongo: append outlived the hole timeout; retrying at fresh positions"
			if st == allocatedTwice {
				// Never on MongoDB, whose findAndModify is atomic; jongodb's
				// is not under concurrency.
				msg = "eventstore/mongo: the position counter handed out a position twice; retrying at fresh positions"
			}
			s.cfg.logger.Warn(msg, "app", a.AppID, "stream", a.StreamID, "first", first, "last", last, "hole_timeout", s.cfg.holeTimeout)
		}
	}
}

// allocate reserves k positions and returns the last of them. Concurrent
// allocations of this Store share one counter update, the way concurrent
// appends share a transaction in the SQLite store: the counter is a single
// hot document, and one increment per batch keeps contention on it low.
func (s *Store) allocate(ctx context.Context, k int64) (int64, error) {
	r := &allocation{k: k, ready: make(chan struct{})}
	s.allocMu.Lock()
	s.allocQueue = append(s.allocQueue, r)
	lead := !s.allocating
	s.allocating = true
	s.allocMu.Unlock()
	if !lead {
		<-r.ready
		if !r.lead {
			return r.last, r.err
		}
	}
	// This caller runs one batch, which holds its own request, then hands
	// the role on to the first waiter, if any.
	s.allocMu.Lock()
	batch := s.allocQueue
	s.allocQueue = nil
	s.allocMu.Unlock()
	var total int64
	for _, b := range batch {
		total += b.k
	}
	last, err := s.increment(ctx, total)
	next := last - total
	for _, b := range batch {
		next += b.k
		b.last, b.err = next, err
		if b != r {
			close(b.ready)
		}
	}
	s.allocMu.Lock()
	if len(s.allocQueue) > 0 {
		heir := s.allocQueue[0]
		heir.lead = true
		close(heir.ready)
	} else {
		s.allocating = false
	}
	s.allocMu.Unlock()
	return r.last, r.err
}

// allocation is one caller's request for positions.
type allocation struct {
	k     int64
	last  int64
	err   error
	lead  bool // woken to run the next batch rather than with a result
	ready chan struct{}
}

// increment adds k to the position counter and returns its new value.
func (s *Store) increment(ctx context.Context, k int64) (int64, error) {
	var c struct {
		N int64 `bson:"n"`
	}
	var err error
	for range 2 {
		err = s.counters.FindOneAndUpdate(ctx, bson.D{e("_id", counterPosition)}, bson.D{e("$inc", bson.D{e("n", k)})},
			options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&c)
		if err == nil {
			return c.N, nil
		}
		// Two first upserts can race on the counter's _id; the loser
		// retries and increments the winner's document.
		if !mongo.IsDuplicateKeyError(err) {
			break
		}
	}
	return 0, unavailable(err)
}

type abandonment int

const (
	freedByUs      abandonment = iota // our tombstone holds the first position: the commit is not there
	deadByReader                      // a reader's tombstone holds it: the commit is not there
	committed                         // the commit is there after all
	allocatedTwice                    // another commit holds it: the counter handed the position out twice
)

// abandon settles positions [first, last] after a failed insert: it marks
// them dead unless the commit made it in, and reports which.
func (s *Store) abandon(ctx context.Context, first, last int64, app, stream string, version int64) (abandonment, error) {
	st := freedByUs
	_, err := s.events.InsertOne(ctx, tombstone(first, s.cfg.now()))
	if err != nil {
		if !mongo.IsDuplicateKeyError(err) {
			return 0, err
		}
		raw, err := s.events.FindOne(ctx, bson.D{e("_id", first)}).Raw()
		if err != nil {
			return 0, err
		}
		c, err := decodeCommit(raw, false)
		if err != nil {
			return 0, err
		}
		switch {
		case c.app == app && c.stream == stream && c.version == version:
			return committed, nil
		case c.app != "":
			st = allocatedTwice
		default:
			st = deadByReader
		}
	}
	// The first position is dead, so nobody can fill the others: mark them
	// too, so that readers need not time them out. Failing that is
	// harmless, readers would then do it.
	if last > first {
		docs := make([]any, 0, last-first)
		for p := first + 1; p <= last; p++ {
			docs = append(docs, tombstone(p, s.cfg.now()))
		}
		_, _ = s.events.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	}
	return st, nil
}

// tombstone is the document that marks position pos dead. Its version is
// -pos so that tombstones, which have no app or stream, stay distinct in the
// unique (app, stream, version) index; a partial index would do too, but the
// query planner would then use it only for queries that repeat its filter.
func tombstone(pos int64, now time.Time) bson.D {
	return bson.D{e("_id", pos), e("last", pos), e("version", -pos), e("dead", true), e("at", now)}
}

// Head implements eventstore.Header: the last position allocated.
func (s *Store) Head(ctx context.Context) (int64, error) {
	var c struct {
		N int64 `bson:"n"`
	}
	err := s.counters.FindOne(ctx, bson.D{e("_id", counterPosition)}).Decode(&c)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %v", eventstore.ErrUnavailable, err)
	}
	return c.N, nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, appID, streamID string, afterVersion int64) ([]eventstore.Event, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	defer s.ops.Done()
	evs, err := s.readStream(ctx, appID, streamID, afterVersion)
	return evs, callerErr(ctx, err)
}

func (s *Store) readStream(ctx context.Context, appID, streamID string, afterVersion int64) ([]eventstore.Event, error) {
	from := afterVersion
	if afterVersion > 0 {
		// The commit holding version afterVersion+1 may begin at or before
		// afterVersion.
		raw, err := s.events.FindOne(ctx, bson.D{e("app", appID), e("stream", streamID), e("version", bson.D{e("$lte", afterVersion)})},
			options.FindOne().SetSort(bson.D{e("version", -1)}).SetProjection(bson.D{e("last", 1), e("version", 1)})).Raw()
		switch {
		case err == nil:
			c, err := decodeCommit(raw, false)
			if err != nil {
				return nil, unavailable(err)
			}
			if c.version+c.last-c.id > afterVersion {
				from = c.version - 1
			}
		case !errors.Is(err, mongo.ErrNoDocuments):
			return nil, unavailable(err)
		}
	}
	cur, err := s.events.Find(ctx, bson.D{e("app", appID), e("stream", streamID), e("version", bson.D{e("$gt", from)})},
		options.Find().SetSort(bson.D{e("version", 1)}))
	if err != nil {
		return nil, unavailable(err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var out []eventstore.Event
	for cur.Next(ctx) {
		c, err := decodeCommit(cur.Current, true)
		if err != nil {
			return nil, unavailable(err)
		}
		for _, ev := range c.events {
			if ev.Version > afterVersion {
				out = append(out, ev)
			}
		}
	}
	if err := cur.Err(); err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}

// Read implements eventstore.Store. It returns only events below the first
// unsettled position; when that leaves nothing while matching events exist
// beyond it, Read waits for the hole to be filled or declared dead.
func (s *Store) Read(ctx context.Context, q eventstore.Query) ([]eventstore.Event, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	defer s.ops.Done()
	evs, err := s.read(ctx, q)
	return evs, callerErr(ctx, err)
}

func (s *Store) read(ctx context.Context, q eventstore.Query) ([]eventstore.Event, error) {
	if q.Limit <= 0 {
		q.Limit = eventstore.DefaultLimit
	}
	q.After = max(q.After, 0)
	filter := queryFilter(q)
	wait := time.Millisecond
	for {
		changed := s.sig.Wait()
		// Only events at positions settled before the fetch began may be
		// returned: a position settling during the fetch may hold an event
		// that committed too late for it.
		settled := s.watermark()
		if settled <= q.After {
			// A reader at the head: extend the watermark first, which is
			// one short scan, so that the fetch can be trusted as it is.
			var err error
			if settled, err = s.settle(ctx, math.MaxInt64); err != nil {
				return nil, err
			}
		}
		evs, err := s.fetch(ctx, q, filter)
		if err != nil || len(evs) == 0 {
			return evs, err
		}
		if top := evs[len(evs)-1].Position; top > settled {
			more, err := s.settle(ctx, top)
			if err != nil {
				return nil, err
			}
			if more > settled {
				settled = more
				if evs, err = s.fetch(ctx, q, filter); err != nil {
					return nil, err
				}
			}
		}
		n := 0
		for n < len(evs) && evs[n].Position <= settled {
			n++
		}
		if n > 0 {
			return evs[:n], nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-s.done:
			timer.Stop()
			return nil, eventstore.ErrClosed
		case <-changed:
			timer.Stop()
		case <-timer.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// queryFilter pushes q's filters down to MongoDB. It may select commits with
// more events than match; fetch filters events exactly with q.Matches.
func queryFilter(q eventstore.Query) bson.D {
	var f bson.D
	if q.AppID != "" {
		f = append(f, e("app", q.AppID))
	}
	if q.StreamID != "" {
		f = append(f, e("stream", q.StreamID))
	}
	var em bson.D
	if len(q.Types) > 0 {
		em = append(em, e("type", bson.D{e("$in", q.Types)}))
	}
	if q.Actor != "" {
		em = append(em, e("actor", q.Actor))
	}
	var ns bson.D
	if !q.From.IsZero() {
		ns = append(ns, e("$gte", q.From.UnixNano()))
	}
	if !q.To.IsZero() {
		ns = append(ns, e("$lte", q.To.UnixNano()))
	}
	if ns != nil {
		em = append(em, e("ns", ns))
	}
	if em != nil {
		f = append(f, e("events", bson.D{e("$elemMatch", em)}))
	}
	return f
}

// fetch returns up to q.Limit committed events matching q after q.After,
// regardless of gaps.
func (s *Store) fetch(ctx context.Context, q eventstore.Query, filter bson.D) ([]eventstore.Event, error) {
	var out []eventstore.Event
	after := q.After
	for {
		want := q.Limit - len(out)
		f := append(filter[:len(filter):len(filter)], e("last", bson.D{e("$gt", after)}))
		cur, err := s.events.Find(ctx, f, options.Find().SetSort(bson.D{e("last", 1)}).SetLimit(int64(want)))
		if err != nil {
			return nil, unavailable(err)
		}
		docs := 0
		// Commits may hold many events: decode only as many as the page
		// takes.
		for len(out) < q.Limit && cur.Next(ctx) {
			docs++
			c, err := decodeCommit(cur.Current, true)
			if err != nil {
				cur.Close(context.WithoutCancel(ctx))
				return nil, unavailable(err)
			}
			after = c.last
			for _, ev := range c.events {
				if ev.Position > q.After && q.Matches(ev) {
					out = append(out, ev)
				}
			}
		}
		err = cur.Err()
		cur.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, unavailable(err)
		}
		if len(out) >= q.Limit {
			return out[:q.Limit], nil
		}
		// Fewer documents than asked for: nothing more matches. Otherwise
		// some held no matching event (tombstones, other events of a
		// commit) and there may be more.
		if docs < want {
			return out, nil
		}
	}
}

func (s *Store) watermark() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settled
}

// settle extends the settled watermark towards upTo and returns it. Holes on
// the way are waited for: this Store records when it first saw each, and
// once one has been seen for the hole timeout it is marked dead. settle does
// not wait itself; Read calls it again.
func (s *Store) settle(ctx context.Context, upTo int64) (int64, error) {
	select {
	case s.scan <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-s.scan }()
	settled := s.watermark()
	for settled < upTo {
		cur, err := s.events.Find(ctx, bson.D{e("last", bson.D{e("$gt", settled)})},
			options.Find().SetSort(bson.D{e("last", 1)}).SetLimit(scanBatch).SetProjection(bson.D{e("_id", 1), e("last", 1)}))
		if err != nil {
			return 0, unavailable(err)
		}
		var spans []struct {
			ID   int64 `bson:"_id"`
			Last int64 `bson:"last"`
		}
		if err := cur.All(ctx, &spans); err != nil {
			return 0, unavailable(err)
		}
		if len(spans) == 0 {
			break // nothing beyond the watermark: positions past it may be allocated, but nothing waits on them
		}
		next, prefix := settled+1, settled
		var missing []int64
		for _, sp := range spans {
			for p := next; p < sp.ID && len(missing) < maxHoles; p++ {
				missing = append(missing, p)
			}
			if len(missing) == 0 {
				prefix = sp.Last
			}
			next = max(next, sp.Last+1)
		}
		settled = s.advance(ctx, prefix)
		if len(missing) == 0 {
			if len(spans) < scanBatch {
				break
			}
			continue
		}
		dead := s.timedOut(missing)
		if len(dead) == 0 {
			break
		}
		s.cfg.logger.Warn("eventstore/mongo: marking unfilled positions dead", "from", dead[0], "to", dead[len(dead)-1],
			"count", len(dead), "hole_timeout", s.cfg.holeTimeout)
		docs := make([]any, len(dead))
		for i, p := range dead {
			docs[i] = tombstone(p, s.cfg.now())
		}
		// Ordered: a position is marked only after every earlier one was,
		// so an interior position of an allocation whose first position
		// the writer filled just now is never marked. A duplicate key means
		// exactly that (or another reader was quicker): rescan.
		if _, err := s.events.InsertMany(ctx, docs); err != nil && !mongo.IsDuplicateKeyError(err) {
			return 0, unavailable(err)
		}
	}
	return settled, nil
}

// advance records a new settled watermark, forgets the holes below it and
// persists it now and then.
func (s *Store) advance(ctx context.Context, settled int64) int64 {
	s.mu.Lock()
	if settled <= s.settled {
		settled = s.settled
		s.mu.Unlock()
		return settled
	}
	s.settled = settled
	for p := range s.holes {
		if p <= settled {
			delete(s.holes, p)
		}
	}
	persist := settled-s.persisted >= persistEvery
	if persist {
		s.persisted = settled
	}
	s.mu.Unlock()
	if persist {
		s.persist(ctx, settled)
	}
	return settled
}

// persist stores the watermark so that new Stores start from it. It is an
// optimisation only, so failures are ignored. ($max would do this in one
// step; jongodb lacks it.)
func (s *Store) persist(ctx context.Context, settled int64) {
	res, err := s.counters.UpdateOne(ctx, bson.D{e("_id", counterSettled), e("n", bson.D{e("$lt", settled)})},
		bson.D{e("$set", bson.D{e("n", settled)})})
	if err == nil && res.MatchedCount == 0 {
		_, _ = s.counters.InsertOne(ctx, bson.D{e("_id", counterSettled), e("n", settled)})
	}
}

// timedOut records first sightings of the missing positions and returns the
// longest prefix of them that has been missing for the hole timeout.
func (s *Store) timedOut(missing []int64) []int64 {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for i, p := range missing {
		seen, ok := s.holes[p]
		if !ok {
			seen = now
			s.holes[p] = now
		}
		if n == i && now.Sub(seen) >= s.cfg.holeTimeout {
			n++
		}
	}
	return missing[:n]
}

// Changed implements eventstore.Store.
func (s *Store) Changed() <-chan struct{} { return s.sig.Wait() }

// Close waits for running appends, stops waiting reads, persists the settled
// watermark and, if Open made the client, disconnects it.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	settled, persisted := s.settled, s.persisted
	s.mu.Unlock()
	s.ops.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if settled > persisted {
		s.persist(ctx, settled)
	}
	if s.ownClient {
		return s.client.Disconnect(ctx)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// appendEventsArray appends the BSON array of events stored in a commit.
func appendEventsArray(dst []byte, evs []eventstore.Event) []byte {
	idx, dst := bsoncore.AppendArrayStart(dst)
	var ibuf [20]byte
	for i, ev := range evs {
		var didx int32
		didx, dst = bsoncore.AppendDocumentElementStart(dst, string(strconv.AppendInt(ibuf[:0], int64(i), 10)))
		dst = bsoncore.AppendStringElement(dst, "type", ev.Type)
		dst = bsoncore.AppendDateTimeElement(dst, "time", ev.Time.UnixMilli())
		dst = bsoncore.AppendInt64Element(dst, "ns", ev.Time.UnixNano())
		dst = bsoncore.AppendStringElement(dst, "actor", ev.Actor)
		if ev.RequestID != "" {
			dst = bsoncore.AppendStringElement(dst, "request_id", ev.RequestID)
		}
		dst = appendPayloadElement(dst, "payload", "payload_json", ev.Payload)
		dst, _ = bsoncore.AppendDocumentEnd(dst, didx)
	}
	dst, _ = bsoncore.AppendArrayEnd(dst, idx)
	return dst
}

// commitDocument builds the document of one commit around its events array.
func commitDocument(first, last int64, app, stream string, version int64, events []byte) bson.Raw {
	idx, doc := bsoncore.AppendDocumentStart(make([]byte, 0, len(events)+len(app)+len(stream)+96))
	doc = bsoncore.AppendInt64Element(doc, "_id", first)
	doc = bsoncore.AppendInt64Element(doc, "last", last)
	doc = bsoncore.AppendStringElement(doc, "app", app)
	doc = bsoncore.AppendStringElement(doc, "stream", stream)
	doc = bsoncore.AppendInt64Element(doc, "version", version)
	doc = bsoncore.AppendArrayElement(doc, "events", events)
	doc, _ = bsoncore.AppendDocumentEnd(doc, idx)
	return bson.Raw(doc)
}

// commit is a decoded commit document (or tombstone, with no events).
type commitDoc struct {
	id, last, version int64
	app, stream       string
	events            []eventstore.Event
}

// decodeCommit decodes a commit document; with events set it also decodes
// its events.
func decodeCommit(raw bson.Raw, events bool) (commitDoc, error) {
	var c commitDoc
	elems, err := bsoncore.Document(raw).Elements()
	if err != nil {
		return c, err
	}
	var arr bsoncore.Value
	for _, el := range elems {
		v := el.Value()
		switch el.Key() {
		case "_id":
			c.id, _ = v.AsInt64OK()
		case "last":
			c.last, _ = v.AsInt64OK()
		case "version":
			c.version, _ = v.AsInt64OK()
		case "app":
			c.app, _ = v.StringValueOK()
		case "stream":
			c.stream, _ = v.StringValueOK()
		case "events":
			arr = v
		}
	}
	if !events || arr.Type != bsoncore.TypeArray {
		return c, nil
	}
	vals, err := bsoncore.Document(arr.Data).Values()
	if err != nil {
		return c, err
	}
	c.events = make([]eventstore.Event, 0, len(vals))
	for i, v := range vals {
		doc, ok := v.DocumentOK()
		if !ok {
			return c, fmt.Errorf("event %d of commit %d is not a document", i, c.id)
		}
		ev := eventstore.Event{Position: c.id + int64(i), AppID: c.app, StreamID: c.stream, Version: c.version + int64(i)}
		fields, err := doc.Elements()
		if err != nil {
			return c, err
		}
		var ns int64
		var hasNS bool
		for _, f := range fields {
			fv := f.Value()
			switch f.Key() {
			case "type":
				ev.Type, _ = fv.StringValueOK()
			case "time":
				if t, ok := fv.TimeOK(); ok && !hasNS {
					ev.Time = t.UTC()
				}
			case "ns":
				ns, hasNS = fv.AsInt64OK()
			case "actor":
				ev.Actor, _ = fv.StringValueOK()
			case "request_id":
				ev.RequestID, _ = fv.StringValueOK()
			case "payload":
				if ev.Payload, err = payloadJSON(fv); err != nil {
					return c, fmt.Errorf("payload of event at position %d: %w", ev.Position, err)
				}
			case "payload_json":
				s, _ := fv.StringValueOK()
				ev.Payload = []byte(s)
			}
		}
		if hasNS {
			ev.Time = time.Unix(0, ns).UTC()
		}
		if ev.Payload == nil {
			ev.Payload = []byte("{}")
		}
		c.events = append(c.events, ev)
	}
	return c, nil
}
