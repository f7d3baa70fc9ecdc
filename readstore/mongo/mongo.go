// Package mongo is readstore.Store on MongoDB through the official driver.
// Read models are real collections that users can open in their own tools:
// namespace {App: "", Coll: c} is collection c of the system database
// (the prefix), {App: a, Coll: c} collection c of database <prefix>_<a>, or of
// the database a resolver names for the app (bring your own MongoDB).
// Documents keep their string _id, first, numbers are stored as doubles and
// object keys in sorted order.
//
// It needs nothing beyond a standalone server: no transactions and no change
// streams. A Batch applies its writes (one unordered BulkWrite per
// collection) and its checkpoints after them, so a crash between the two
// re-applies the batch on restart; projections are idempotent.
// Checkpoints live in _checkpoints of the system database, and _namespaces
// there lists the collections the store has written, for Namespaces and
// Reset.
//
// # Several writers
//
// Every node of a multi-node deployment runs its own projections over the
// same read models, and a node that crashed mid-batch re-applies the batch,
// so writes from different points of the log interleave: a lagging node
// would put back an older version of a document, recreate one that a later
// event deleted, or move a checkpoint back. Positions make the outcome
// independent of the interleaving. The writer is a
// readstore.PositionedWriter: the runner tells it each event's log position,
// and every document it writes records that position in _eb_pos (an int64).
//
//   - A Put is an upsert that may replace only a document whose _eb_pos is
//     not greater: filter {_id: id, _eb_pos: {$not: {$gt: pos}}}, which a
//     document without _eb_pos matches too. If a later event's version is
//     stored, the filter misses, the insert fails on the _id index with a
//     duplicate key, and the write is a no-op. An equal position replaces:
//     projections are idempotent, and a projection whose version is bumped
//     thereby rewrites what it wrote at the same events (one that now writes
//     at other events needs a rebuild from Reset).
//   - A Delete leaves a tombstone {_id, _eb_pos, _eb_deleted: true} under
//     the same guard, so a re-applied creation cannot bring the document
//     back. Every read (Get, Find, Count, Namespaces, Writer.Get) leaves
//     tombstones out. They are a few dozen bytes each and stay until Reset
//     drops the collection: without them a lagging node could recreate the
//     document, and a later event that reuses the id replaces the tombstone
//     like any older version.
//   - Within a batch only the last write to each document is sent, so order
//     no longer matters. A duplicate key counts as a superseded write only
//     once the stored _eb_pos is read back and found not lower; otherwise
//     (two nodes inserting one new document at once, or jongodb, which fails
//     the whole command on the first duplicate key without naming the write)
//     the write is sent again, a few times at most.
//   - Checkpoints are written under the same guard on their position
//     (jongodb lacks $max), so they rise and never fall.
//   - Writes without a position (At not called, or At(0)) replace and delete
//     outright and leave no _eb_pos, as a single writer may: rebuilding one
//     app deletes its documents so before replaying them with positions.
//
// The store's own fields start with _eb_, and users' documents may hold any
// name (a "_deleted" flag is common): a top-level field whose name starts
// with _eb_ is stored with the prefix doubled (_eb_x as _eb__eb_x), and
// filters, sorts, projections and indexes name it so. Documents read back
// exactly as written and none can pass for a tombstone. Read models have no
// unique index but _id (EnsureIndex makes plain ones); a unique index added
// by hand makes a write that breaks it fail its batch, not vanish.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/bsonx/bsoncore"

	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
	"github.com/eventbase/eventbase/readstore/internal/docs"
)

// Collections of the system database that the store keeps for itself.
const (
	checkpointsColl = "_checkpoints"
	namespacesColl  = "_namespaces"
)

// Fields the store adds to documents. Every name starting with metaPrefix is
// the store's: see escape.
const (
	metaPrefix   = "_eb_"
	posField     = metaPrefix + "pos"     // log position of the write, int64
	deletedField = metaPrefix + "deleted" // true in tombstones
)

var metaPrefixBytes = []byte(metaPrefix)

// escape returns the stored name of a document's top-level field, or of
// the first step of a path: names starting with metaPrefix get it doubled,
// so they never equal the store's own.
func escape(name string) string {
	if strings.HasPrefix(name, metaPrefix) {
		return metaPrefix + name
	}
	return name
}

// escapeFilter renames the document fields of a rendered filter as escape
// stores them. Fields are the keys of the top level and of the operands of
// $and and $or; paths inside operators ($elemMatch) are relative to an
// element and stay.
func escapeFilter(m map[string]any) {
	var renamed []string
	for k, v := range m {
		switch {
		case k == "$and" || k == "$or":
			list, _ := v.([]any)
			for _, x := range list {
				if sub, ok := x.(map[string]any); ok {
					escapeFilter(sub)
				}
			}
		case strings.HasPrefix(k, metaPrefix):
			renamed = append(renamed, k)
		}
	}
	for _, k := range renamed {
		m[escape(k)] = m[k]
		delete(m, k)
	}
}

// live is the condition every read adds: tombstones are not documents.
func live() bson.E { return bson.E{Key: deletedField, Value: bson.D{{Key: "$ne", Value: true}}} }

// Store is a readstore.Store on MongoDB. It is safe for concurrent use.
type Store struct {
	client *mongo.Client
	owned  bool // Close disconnects the client
	prefix string
	dbName func(app string) string

	// registered caches namespaces known to be in _namespaces, so that
	// writes register a collection once per process, not once per batch.
	registered sync.Map // readstore.NS -> struct{}
}

var _ readstore.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithDatabase names the database of each app's collections, e.g. an app's
// own database on the same server. The default is <prefix>_<app>.
func WithDatabase(name func(app string) string) Option {
	return func(s *Store) { s.dbName = name }
}

// Open connects to uri and returns a store whose databases are named after
// dbPrefix. Close disconnects.
func Open(ctx context.Context, uri, dbPrefix string, opts ...Option) (*Store, error) {
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return nil, fmt.Errorf("readstore/mongo: connect: %w", err)
	}
	if err := client.Ping(ctx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("readstore/mongo: ping: %w", err)
	}
	s, err := New(client, dbPrefix, opts...)
	if err != nil {
		_ = client.Disconnect(context.Background())
		return nil, err
	}
	s.owned = true
	return s, nil
}

// validName is what this store accepts in database names it derives: MongoDB
// forbids /\. "$*<>:|? and NUL, and names differing only in case clash.
var validName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// New returns a store on a connected client; Close leaves the client open.
func New(client *mongo.Client, dbPrefix string, opts ...Option) (*Store, error) {
	if !validName.MatchString(dbPrefix) || len(dbPrefix) > 38 {
		return nil, fmt.Errorf("readstore/mongo: invalid database prefix %q", dbPrefix)
	}
	s := &Store{client: client, prefix: dbPrefix}
	s.dbName = func(app string) string { return s.prefix + "_" + app }
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Close implements readstore.Store.
func (s *Store) Close() error {
	if s.owned {
		return s.client.Disconnect(context.Background())
	}
	return nil
}

func (s *Store) system() *mongo.Database { return s.client.Database(s.prefix) }

// coll returns the collection of a namespace.
func (s *Store) coll(ns readstore.NS) (*mongo.Collection, error) {
	if ns.Coll == "" || strings.ContainsAny(ns.Coll, "$\x00") || strings.HasPrefix(ns.Coll, "system.") {
		return nil, fmt.Errorf("readstore/mongo: invalid collection name %q", ns.Coll)
	}
	if ns.App == "" {
		if ns.Coll == checkpointsColl || ns.Coll == namespacesColl {
			return nil, fmt.Errorf("readstore/mongo: collection name %q is reserved", ns.Coll)
		}
		return s.system().Collection(ns.Coll), nil
	}
	db := s.dbName(ns.App)
	if !validName.MatchString(ns.App) || db == "" || len(db) > 63 || strings.ContainsAny(db, "/\\. \"$*<>:|?\x00") {
		return nil, fmt.Errorf("readstore/mongo: app %q has no valid database name", ns.App)
	}
	return s.client.Database(db).Collection(ns.Coll), nil
}

func nsKey(ns readstore.NS) string { return ns.App + "\x00" + ns.Coll }

// register records ns in _namespaces before anything is written to it, so
// that Namespaces and Reset never miss a collection holding documents.
func (s *Store) register(ctx context.Context, nss []readstore.NS) error {
	var models []mongo.WriteModel
	for _, ns := range nss {
		if _, ok := s.registered.Load(ns); ok {
			continue
		}
		models = append(models, mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: nsKey(ns)}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "app", Value: ns.App}, {Key: "coll", Value: ns.Coll}}}}).
			SetUpsert(true))
	}
	if len(models) == 0 {
		return nil
	}
	if _, err := s.system().Collection(namespacesColl).BulkWrite(ctx, models); err != nil {
		return fmt.Errorf("readstore/mongo: register namespaces: %w", err)
	}
	for _, ns := range nss {
		s.registered.Store(ns, struct{}{})
	}
	return nil
}

// op is one buffered write: doc nil deletes. pos is the log position it
// comes from, 0 if none.
type op struct {
	ns  readstore.NS
	id  string
	doc bson.Raw
	pos int64
}

type docKey struct {
	ns readstore.NS
	id string
}

// writer buffers a batch. Nothing reaches MongoDB until fn returns, so a
// batch whose fn fails writes nothing; documents are encoded at Put, so
// later changes to the caller's maps do not leak in.
type writer struct {
	ctx         context.Context
	s           *Store
	pos         int64          // set by At
	ops         []op           // one per document: its last write
	index       map[docKey]int // into ops
	checkpoints map[string]int64
	order       []string // checkpoint names in first-set order
	enc         encoder
}

var _ readstore.PositionedWriter = (*writer)(nil)

// Batch implements readstore.Store.
func (s *Store) Batch(ctx context.Context, fn func(w readstore.Writer) error) error {
	w := &writer{ctx: ctx, s: s, index: map[docKey]int{}, checkpoints: map[string]int64{}}
	if err := fn(w); err != nil {
		return err
	}
	return w.commit()
}

// At implements readstore.PositionedWriter.
func (w *writer) At(pos int64) { w.pos = max(pos, 0) }

// Get implements readstore.Writer: the batch's own writes first.
func (w *writer) Get(ns readstore.NS, id string) (readstore.Doc, error) {
	if i, ok := w.index[docKey{ns, id}]; ok {
		raw := w.ops[i].doc
		if raw == nil {
			return nil, readstore.ErrNotFound
		}
		var d decoder
		return d.stored(raw)
	}
	return w.s.Get(w.ctx, ns, id)
}

// Put implements readstore.Writer.
func (w *writer) Put(ns readstore.NS, doc readstore.Doc) error {
	id, err := docs.Validate(doc)
	if err != nil {
		return err
	}
	if _, err := w.s.coll(ns); err != nil {
		return err
	}
	raw := bson.Raw(w.enc.stored(nil, doc, w.pos))
	w.add(op{ns: ns, id: id, doc: raw, pos: w.pos})
	return nil
}

// Delete implements readstore.Writer.
func (w *writer) Delete(ns readstore.NS, id string) error {
	if _, err := w.s.coll(ns); err != nil {
		return err
	}
	w.add(op{ns: ns, id: id, pos: w.pos})
	return nil
}

// add buffers o in place of the batch's earlier write to the same document.
func (w *writer) add(o op) {
	k := docKey{o.ns, o.id}
	if i, ok := w.index[k]; ok {
		w.ops[i] = o
		return
	}
	w.index[k] = len(w.ops)
	w.ops = append(w.ops, o)
}

// SetCheckpoint implements readstore.Writer; checkpoints are written after
// every other write of the batch, and never lower a stored one.
func (w *writer) SetCheckpoint(name string, pos int64) error {
	prev, ok := w.checkpoints[name]
	if !ok {
		w.order = append(w.order, name)
	}
	w.checkpoints[name] = max(prev, pos)
	return nil
}

func (w *writer) commit() error {
	// Collections in first-write order, each with its writes. Order within
	// and across collections does not matter: each document has one write.
	var nss, written []readstore.NS
	byNS := map[readstore.NS][]op{}
	for _, o := range w.ops {
		if _, ok := byNS[o.ns]; !ok {
			nss = append(nss, o.ns)
		}
		byNS[o.ns] = append(byNS[o.ns], o)
		if (o.doc != nil || o.pos > 0) && !slices.Contains(written, o.ns) {
			written = append(written, o.ns) // a document or a tombstone
		}
	}
	if err := w.s.register(w.ctx, written); err != nil {
		return err
	}
	for _, ns := range nss {
		if err := w.s.apply(w.ctx, ns, byNS[ns]); err != nil {
			return err
		}
	}
	// A checkpoint is a positioned write of its own, guarded by pos
	// ($max would do, but jongodb lacks it). 0 is every checkpoint's floor.
	var cps []op
	for _, name := range w.order {
		if pos := w.checkpoints[name]; pos > 0 {
			cps = append(cps, op{id: name, doc: checkpointDoc(name, pos), pos: pos})
		}
	}
	if len(cps) == 0 {
		return nil
	}
	if err := write(w.ctx, w.s.system().Collection(checkpointsColl), cps, "pos"); err != nil {
		return fmt.Errorf("readstore/mongo: write checkpoints: %w", err)
	}
	return nil
}

func checkpointDoc(name string, pos int64) bson.Raw {
	idx, dst := bsoncore.AppendDocumentStart(nil)
	dst = bsoncore.AppendStringElement(dst, "_id", name)
	dst = bsoncore.AppendInt64Element(dst, "pos", pos)
	dst, _ = bsoncore.AppendDocumentEnd(dst, idx)
	return dst
}

// apply writes ops, one per document, to the collection of ns.
func (s *Store) apply(ctx context.Context, ns readstore.NS, ops []op) error {
	c, err := s.coll(ns)
	if err != nil {
		return err
	}
	if err := write(ctx, c, ops, posField); err != nil {
		return fmt.Errorf("readstore/mongo: write %v: %w", ns, err)
	}
	return nil
}

// maxAttempts bounds how often write sends a write that keeps losing races
// to insert its document.
const maxAttempts = 3

// write sends ops, one per document, to c as an unordered BulkWrite, those
// with a position guarded by it in field. A guarded upsert whose filter
// misses fails on a duplicate key: done if the document holds a later
// position, sent again if not (another writer inserted it meanwhile).
func write(ctx context.Context, c *mongo.Collection, ops []op, field string) error {
	if len(ops) == 0 {
		return nil
	}
	for attempt := 1; ; attempt++ {
		models := make([]mongo.WriteModel, len(ops))
		for i, o := range ops {
			models[i] = model(o, field)
		}
		_, err := c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
		if err == nil {
			return nil
		}
		failed, err := duplicates(err, ops)
		if err != nil {
			return err
		}
		if ops, err = undone(ctx, c, failed, field); err != nil {
			return err
		}
		if len(ops) == 0 {
			return nil
		}
		if attempt == maxAttempts {
			return fmt.Errorf("document %q: duplicate key on every attempt", ops[0].id)
		}
	}
}

// model is the write of o.
func model(o op, field string) mongo.WriteModel {
	filter := bson.D{{Key: "_id", Value: o.id}}
	switch {
	case o.pos == 0 && o.doc == nil:
		return mongo.NewDeleteOneModel().SetFilter(filter)
	case o.pos == 0:
		return mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(o.doc).SetUpsert(true)
	}
	// $not also matches a document without the field: one written
	// without a position.
	filter = append(filter, bson.E{Key: field, Value: bson.D{{Key: "$not", Value: bson.D{{Key: "$gt", Value: o.pos}}}}})
	doc := o.doc
	if doc == nil {
		doc = tombstone(o.id, o.pos)
	}
	return mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(doc).SetUpsert(true)
}

// duplicates returns the ops of an unordered BulkWrite's error that may
// have failed on a duplicate key, or err if anything else failed.
func duplicates(err error, ops []op) ([]op, error) {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) {
		// jongodb fails the whole command on the first duplicate key, even
		// unordered, naming no write: any of them may not have landed.
		if mongo.IsDuplicateKeyError(err) {
			return ops, nil
		}
		return nil, err
	}
	if bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return nil, err
	}
	out := make([]op, 0, len(bwe.WriteErrors))
	for _, we := range bwe.WriteErrors {
		if !mongo.IsDuplicateKeyError(we.WriteError) || we.Index < 0 || we.Index >= len(ops) {
			return nil, err
		}
		out = append(out, ops[we.Index])
	}
	return out, nil
}

// undone returns the ops among failed, which may not have landed, that
// must be sent again: all but those whose document holds their position in
// field (the write landed, or another writer's for the same event did) or
// a later one (the write is superseded).
func undone(ctx context.Context, c *mongo.Collection, failed []op, field string) ([]op, error) {
	ids := make([]string, len(failed))
	for i, o := range failed {
		ids[i] = o.id
	}
	cur, err := c.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}},
		options.Find().SetProjection(bson.D{{Key: field, Value: 1}}))
	if err != nil {
		return nil, err
	}
	defer cur.Close(ctx)
	stored := map[string]int64{}
	for cur.Next(ctx) {
		id, _ := cur.Current.Lookup("_id").StringValueOK()
		pos, _ := cur.Current.Lookup(field).AsInt64OK()
		stored[id] = pos
	}
	if err := cur.Err(); err != nil {
		return nil, err
	}
	var again []op
	for _, o := range failed {
		if o.pos == 0 || stored[o.id] < o.pos {
			again = append(again, o)
		}
	}
	return again, nil
}

// Get implements readstore.Store.
func (s *Store) Get(ctx context.Context, ns readstore.NS, id string) (readstore.Doc, error) {
	c, err := s.coll(ns)
	if err != nil {
		return nil, err
	}
	raw, err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}, live()}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, readstore.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("readstore/mongo: get %v %q: %w", ns, id, err)
	}
	var d decoder
	return d.stored(raw)
}

// filter translates a validated tree to BSON through its canonical MongoDB
// rendering: only operators the tree can hold reach the server. compat and
// objectType respell it where servers other than MongoDB fall short. The
// result names fields as stored and leaves tombstones out.
func (s *Store) filter(e query.Expr) (bson.Raw, error) {
	m, err := query.Format(compat(e))
	if err != nil {
		return nil, err
	}
	objectType(m)
	escapeFilter(m)
	l := live()
	m[l.Key] = l.Value
	var enc encoder
	return enc.document(nil, m), nil
}

// Find implements readstore.Store.
func (s *Store) Find(ctx context.Context, ns readstore.NS, f readstore.Find) ([]readstore.Doc, error) {
	c, err := s.coll(ns)
	if err != nil {
		return nil, err
	}
	if f.Limit < 0 {
		return nil, &query.Error{Message: "limit must not be negative"}
	}
	filter, err := s.filter(f.Filter)
	if err != nil {
		return nil, err
	}
	var enc encoder
	sort := bson.D{}
	for _, sf := range f.Sort {
		dir := 1
		if sf.Desc {
			dir = -1
		}
		sort = append(sort, bson.E{Key: escape(sf.Field), Value: dir})
		if sf.Field == "_id" {
			break
		}
	}
	if !slices.ContainsFunc(sort, func(e bson.E) bool { return e.Key == "_id" }) {
		sort = append(sort, bson.E{Key: "_id", Value: 1})
	}
	opts := options.Find().SetSort(bson.Raw(enc.ordered(nil, sort)))
	if f.Limit > 0 {
		opts.SetLimit(int64(f.Limit))
	}
	if f.Fields != nil {
		if err := query.CheckFields(f.Fields); err != nil {
			return nil, err
		}
		proj := bson.D{{Key: "_id", Value: 1}}
		for _, field := range f.Fields {
			if field != "_id" {
				proj = append(proj, bson.E{Key: escape(field), Value: 1})
			}
		}
		opts.SetProjection(bson.Raw(enc.ordered(nil, proj)))
	}
	cur, err := c.Find(ctx, filter, opts)
	if err != nil {
		return nil, fmt.Errorf("readstore/mongo: find in %v: %w", ns, err)
	}
	defer cur.Close(ctx)
	out := []readstore.Doc{}
	var dec decoder
	for cur.Next(ctx) {
		doc, err := dec.stored(cur.Current)
		if err != nil {
			return nil, err
		}
		if f.Fields != nil {
			// The server projected already; projecting again is a no-op there
			// and does the work on servers that ignore projections (jongodb).
			doc = query.Project(doc, f.Fields)
		}
		out = append(out, doc)
	}
	if err := cur.Err(); err != nil {
		return nil, fmt.Errorf("readstore/mongo: find in %v: %w", ns, err)
	}
	return out, nil
}

// Count implements readstore.Store.
func (s *Store) Count(ctx context.Context, ns readstore.NS, filter query.Expr) (int64, error) {
	c, err := s.coll(ns)
	if err != nil {
		return 0, err
	}
	f, err := s.filter(filter)
	if err != nil {
		return 0, err
	}
	n, err := c.CountDocuments(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("readstore/mongo: count in %v: %w", ns, err)
	}
	return n, nil
}

// EnsureIndex implements readstore.Store with an ascending index on field;
// MongoDB walks it both ways, and over arrays (multikey) too.
func (s *Store) EnsureIndex(ctx context.Context, ns readstore.NS, field string) error {
	if err := query.CheckFields([]string{field}); err != nil {
		return err
	}
	c, err := s.coll(ns)
	if err != nil {
		return err
	}
	if err := s.register(ctx, []readstore.NS{ns}); err != nil {
		return err
	}
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: escape(field), Value: 1}}}); err != nil {
		return fmt.Errorf("readstore/mongo: index %v on %q: %w", ns, field, err)
	}
	return nil
}

// Checkpoint implements readstore.Store.
func (s *Store) Checkpoint(ctx context.Context, name string) (int64, error) {
	var cp struct {
		Pos int64 `bson:"pos"`
	}
	err := s.system().Collection(checkpointsColl).FindOne(ctx, bson.D{{Key: "_id", Value: name}}).Decode(&cp)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("readstore/mongo: checkpoint %q: %w", name, err)
	}
	return cp.Pos, nil
}

// registry lists the namespaces in _namespaces, ordered by app and
// collection.
func (s *Store) registry(ctx context.Context) ([]readstore.NS, error) {
	cur, err := s.system().Collection(namespacesColl).Find(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	var entries []struct {
		App  string `bson:"app"`
		Coll string `bson:"coll"`
	}
	if err := cur.All(ctx, &entries); err != nil {
		return nil, err
	}
	out := make([]readstore.NS, len(entries))
	for i, e := range entries {
		out[i] = readstore.NS{App: e.App, Coll: e.Coll}
	}
	slices.SortFunc(out, func(a, b readstore.NS) int {
		if c := strings.Compare(a.App, b.App); c != 0 {
			return c
		}
		return strings.Compare(a.Coll, b.Coll)
	})
	return out, nil
}

// Namespaces implements readstore.Store: registered namespaces holding at
// least one document (tombstones do not count).
func (s *Store) Namespaces(ctx context.Context) ([]readstore.NS, error) {
	all, err := s.registry(ctx)
	if err != nil {
		return nil, fmt.Errorf("readstore/mongo: namespaces: %w", err)
	}
	out := []readstore.NS{}
	for _, ns := range all {
		c, err := s.coll(ns)
		if err != nil {
			return nil, err
		}
		err = c.FindOne(ctx, bson.D{live()}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("readstore/mongo: namespaces: %w", err)
		}
		out = append(out, ns)
	}
	return out, nil
}

// Reset implements readstore.Store: it drops the collections it wrote (not
// whole databases, which may be an app's own), tombstones included, and its
// bookkeeping.
func (s *Store) Reset(ctx context.Context) error {
	all, err := s.registry(ctx)
	if err != nil {
		return fmt.Errorf("readstore/mongo: reset: %w", err)
	}
	for _, ns := range all {
		c, err := s.coll(ns)
		if err != nil {
			return err
		}
		if err := dropOrEmpty(ctx, c); err != nil {
			return fmt.Errorf("readstore/mongo: reset %v: %w", ns, err)
		}
		s.registered.Delete(ns)
	}
	for _, name := range []string{namespacesColl, checkpointsColl} {
		if err := dropOrEmpty(ctx, s.system().Collection(name)); err != nil {
			return fmt.Errorf("readstore/mongo: reset: %w", err)
		}
	}
	s.registered.Clear()
	return nil
}

// dropOrEmpty drops c or, on a server without the drop command (jongodb),
// deletes its documents, which leaves reads the same.
func dropOrEmpty(ctx context.Context, c *mongo.Collection) error {
	err := c.Drop(ctx)
	var ce mongo.CommandError
	if errors.As(err, &ce) && ce.Name == "CommandNotFound" {
		_, err = c.DeleteMany(ctx, bson.D{})
	}
	return err
}
