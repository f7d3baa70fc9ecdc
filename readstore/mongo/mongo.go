// Package mongo is readstore.Store on MongoDB through the official driver.
// Read models are real collections that users can open in their own tools:
// namespace {App: "", Coll: c} is collection c of the system database
// (the prefix), {App: a, Coll: c} collection c of database <prefix>_<a>, or of
// the database a resolver names for the app (bring your own MongoDB).
// Documents keep their string _id, numbers are stored as doubles and object
// keys in sorted order.
//
// It needs nothing beyond a standalone server: no transactions and no change
// streams. A Batch applies its writes in order (one ordered BulkWrite per run
// of writes to one collection) and its checkpoints after them, so a crash
// between the two re-applies the batch on restart; projections are
// idempotent. Checkpoints live in _checkpoints of the system database, and
// _namespaces there lists the collections the store has written, for
// Namespaces and Reset.
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

	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
	"github.com/eventbase/eventbase/readstore/internal/docs"
)

// Collections of the system database that the store keeps for itself.
const (
	checkpointsColl = "_checkpoints"
	namespacesColl  = "_namespaces"
)

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

// op is one buffered write: doc nil deletes.
type op struct {
	ns  readstore.NS
	id  string
	doc bson.Raw
}

// writer buffers a batch. Nothing reaches MongoDB until fn returns, so a
// batch whose fn fails writes nothing; documents are encoded at Put, so
// later changes to the caller's maps do not leak in.
type writer struct {
	ctx         context.Context
	s           *Store
	ops         []op
	latest      map[readstore.NS]map[string]bson.Raw // for Get; nil value: deleted
	checkpoints map[string]int64
	order       []string // checkpoint names in first-set order
	enc         encoder
}

// Batch implements readstore.Store.
func (s *Store) Batch(ctx context.Context, fn func(w readstore.Writer) error) error {
	w := &writer{ctx: ctx, s: s, latest: map[readstore.NS]map[string]bson.Raw{}, checkpoints: map[string]int64{}}
	if err := fn(w); err != nil {
		return err
	}
	return w.commit()
}

// Get implements readstore.Writer: the batch's own writes first.
func (w *writer) Get(ns readstore.NS, id string) (readstore.Doc, error) {
	if byID, ok := w.latest[ns]; ok {
		if raw, ok := byID[id]; ok {
			if raw == nil {
				return nil, readstore.ErrNotFound
			}
			var d decoder
			return d.document(raw)
		}
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
	raw := bson.Raw(w.enc.document(nil, doc))
	w.add(op{ns: ns, id: id, doc: raw})
	return nil
}

// Delete implements readstore.Writer.
func (w *writer) Delete(ns readstore.NS, id string) error {
	if _, err := w.s.coll(ns); err != nil {
		return err
	}
	w.add(op{ns: ns, id: id})
	return nil
}

func (w *writer) add(o op) {
	w.ops = append(w.ops, o)
	byID := w.latest[o.ns]
	if byID == nil {
		byID = map[string]bson.Raw{}
		w.latest[o.ns] = byID
	}
	byID[o.id] = o.doc
}

// SetCheckpoint implements readstore.Writer; checkpoints are written after
// every other write of the batch.
func (w *writer) SetCheckpoint(name string, pos int64) error {
	if _, ok := w.checkpoints[name]; !ok {
		w.order = append(w.order, name)
	}
	w.checkpoints[name] = pos
	return nil
}

func (w *writer) commit() error {
	var nss []readstore.NS
	for _, o := range w.ops {
		if o.doc != nil && !slices.Contains(nss, o.ns) {
			nss = append(nss, o.ns)
		}
	}
	if err := w.s.register(w.ctx, nss); err != nil {
		return err
	}
	// One ordered BulkWrite per run of operations on the same collection
	// keeps the batch's order across collections.
	for start := 0; start < len(w.ops); {
		end := start + 1
		for end < len(w.ops) && w.ops[end].ns == w.ops[start].ns {
			end++
		}
		if err := w.s.apply(w.ctx, w.ops[start:end]); err != nil {
			return err
		}
		start = end
	}
	if len(w.order) == 0 {
		return nil
	}
	models := make([]mongo.WriteModel, len(w.order))
	for i, name := range w.order {
		models[i] = mongo.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: name}}).
			SetUpdate(bson.D{{Key: "$set", Value: bson.D{{Key: "pos", Value: w.checkpoints[name]}}}}).
			SetUpsert(true)
	}
	if _, err := w.s.system().Collection(checkpointsColl).BulkWrite(w.ctx, models); err != nil {
		return fmt.Errorf("readstore/mongo: write checkpoints: %w", err)
	}
	return nil
}

func (s *Store) apply(ctx context.Context, ops []op) error {
	c, err := s.coll(ops[0].ns)
	if err != nil {
		return err
	}
	models := make([]mongo.WriteModel, len(ops))
	for i, o := range ops {
		filter := bson.D{{Key: "_id", Value: o.id}}
		if o.doc == nil {
			models[i] = mongo.NewDeleteOneModel().SetFilter(filter)
		} else {
			models[i] = mongo.NewReplaceOneModel().SetFilter(filter).SetReplacement(o.doc).SetUpsert(true)
		}
	}
	if _, err := c.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(true)); err != nil {
		return fmt.Errorf("readstore/mongo: write %v: %w", ops[0].ns, err)
	}
	return nil
}

// Get implements readstore.Store.
func (s *Store) Get(ctx context.Context, ns readstore.NS, id string) (readstore.Doc, error) {
	c, err := s.coll(ns)
	if err != nil {
		return nil, err
	}
	raw, err := c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, readstore.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("readstore/mongo: get %v %q: %w", ns, id, err)
	}
	var d decoder
	return d.document(raw)
}

// filter translates a validated tree to BSON through its canonical MongoDB
// rendering: only operators the tree can hold reach the server. compat and
// objectType respell it where servers other than MongoDB fall short.
func (s *Store) filter(e query.Expr) (bson.Raw, error) {
	m, err := query.Format(compat(e))
	if err != nil {
		return nil, err
	}
	objectType(m)
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
		sort = append(sort, bson.E{Key: sf.Field, Value: dir})
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
				proj = append(proj, bson.E{Key: field, Value: 1})
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
		doc, err := dec.document(cur.Current)
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
	if _, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: field, Value: 1}}}); err != nil {
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
// least one document.
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
		err = c.FindOne(ctx, bson.D{}, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
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
// whole databases, which may be an app's own) and its bookkeeping.
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
