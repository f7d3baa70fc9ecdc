// Package sqlite is the embedded read-model store: readstore.Store on a
// SQLite file through the pure Go driver modernc.org/sqlite. It may share
// the file with the event store; its tables are all prefixed rm_.
//
// Each namespace is a table rm_d_<hash> (documents as canonical JSON text,
// _id the primary key), listed in rm_namespaces. Filters compile to SQL over
// json_extract (see compile.go). EnsureIndex builds an expression index on a
// field's type rank and value, recorded in rm_indexes with a plain flag that
// stays set while no document has held an array or object there: only then
// can a query use the index, since MongoDB's array semantics cannot be
// answered by a scalar index. Checkpoints live in rm_checkpoints and commit
// in the same transaction as the batch that reached them.
//
// Reads go through a pool of read-only connections, each in its own
// snapshot (WAL); writes through one connection, one transaction per Batch.
package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
	"github.com/eventbase/eventbase/readstore/internal/docs"
	"modernc.org/sqlite"
)

const schema = `
CREATE TABLE IF NOT EXISTS rm_namespaces (
	tbl  TEXT PRIMARY KEY NOT NULL,
	app  TEXT NOT NULL,
	coll TEXT NOT NULL,
	UNIQUE (app, coll)
);
CREATE TABLE IF NOT EXISTS rm_indexes (
	tbl   TEXT NOT NULL,
	path  TEXT NOT NULL,
	plain INTEGER NOT NULL,
	PRIMARY KEY (tbl, path)
);
CREATE TABLE IF NOT EXISTS rm_checkpoints (
	name TEXT PRIMARY KEY NOT NULL,
	pos  INTEGER NOT NULL
);`

// Store is a readstore.Store on SQLite. It is safe for concurrent use.
type Store struct {
	read  *sql.DB
	wdb   *sql.DB
	plans *plans

	wmu   sync.Mutex // guards wconn, its transaction and stmts
	wconn *sql.Conn
	stmts map[string]*sql.Stmt // prepared on wconn, by SQL text

	// Read statements by SQL text: a list query of one shape is compiled to
	// the same text every time, and preparing it costs as much as running it.
	rmu    sync.Mutex
	rstmts map[string]*sql.Stmt
}

// maxReadStmts and maxWriteStmts bound the statement caches; past them a
// cache restarts. Each namespace written costs a few write statements.
const (
	maxReadStmts  = 256
	maxWriteStmts = 256
)

var _ readstore.Store = (*Store)(nil)

type connector struct {
	drv *sqlite.Driver
	dsn string
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.drv.Open(c.dsn)
}

func (c connector) Driver() driver.Driver { return c.drv }

// Open opens (creating if needed) the store in the SQLite file at path, in
// WAL mode with synchronous=NORMAL: a committed batch survives a process
// crash; an OS crash may roll back the last batches, and their checkpoint
// with them, so the runner re-applies them from the log (which is FULL).
// Read models are rebuildable, so they do not pay an fsync per batch.
func Open(path string) (*Store, error) {
	ps := &plans{}
	drv, err := newDriver(ps)
	if err != nil {
		return nil, err
	}
	const common = "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(0)"
	wdb := sql.OpenDB(connector{drv, path + common + "&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"})
	wdb.SetMaxOpenConns(1)
	ctx := context.Background()
	wconn, err := wdb.Conn(ctx)
	if err != nil {
		wdb.Close()
		return nil, fmt.Errorf("readstore/sqlite: open %s: %w", path, err)
	}
	s := &Store{wdb: wdb, wconn: wconn, plans: ps, stmts: map[string]*sql.Stmt{}, rstmts: map[string]*sql.Stmt{}}
	if _, err := wconn.ExecContext(ctx, schema); err != nil {
		s.Close()
		return nil, fmt.Errorf("readstore/sqlite: create schema: %w", err)
	}
	// Readers open after the writer has switched the file to WAL.
	s.read = sql.OpenDB(connector{drv, path + common + "&_pragma=query_only(1)"})
	n := max(2, runtime.GOMAXPROCS(0))
	s.read.SetMaxOpenConns(n)
	s.read.SetMaxIdleConns(n)
	return s, nil
}

// Close closes the store's connections.
func (s *Store) Close() error {
	s.rmu.Lock()
	for _, st := range s.rstmts {
		st.Close()
	}
	s.rstmts = map[string]*sql.Stmt{}
	s.rmu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = map[string]*sql.Stmt{}
	var errs []error
	if s.read != nil {
		errs = append(errs, s.read.Close())
	}
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	errs = append(errs, s.wdb.Close())
	return errors.Join(errs...)
}

// tableName derives a namespace's table from a hash, so that app and
// collection names never reach SQL text.
func tableName(ns readstore.NS) string {
	h := sha256.Sum256([]byte(ns.App + "\x00" + ns.Coll))
	return "rm_d_" + hex.EncodeToString(h[:16])
}

func checkNS(ns readstore.NS) error {
	if ns.Coll == "" {
		return errors.New("readstore/sqlite: empty collection name")
	}
	return nil
}

// stmt returns a statement prepared on the writer connection. Callers hold
// wmu.
func (s *Store) stmt(ctx context.Context, text string) (*sql.Stmt, error) {
	if st, ok := s.stmts[text]; ok {
		return st, nil
	}
	st, err := s.wconn.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	s.stmts[text] = st
	return st, nil
}

// write runs fn in one IMMEDIATE transaction on the writer connection:
// taking the write lock up front means a concurrent writer on the same file
// (the event store) makes us wait under busy_timeout instead of failing.
func (s *Store) write(ctx context.Context, fn func() error) (err error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if len(s.stmts) > maxWriteStmts {
		// Between transactions no batch holds one of them.
		for _, st := range s.stmts {
			st.Close()
		}
		clear(s.stmts)
	}
	if _, err := s.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("readstore/sqlite: begin: %w", err)
	}
	defer func() {
		if err != nil {
			// The context may be done; the rollback must run regardless.
			_, _ = s.wconn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	if err := fn(); err != nil {
		return err
	}
	if _, err := s.wconn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("readstore/sqlite: commit: %w", err)
	}
	return nil
}

// nsState is what a batch knows about one namespace it writes to.
type nsState struct {
	tbl     string
	exists  bool
	indexes []indexState
	upsert  *sql.Stmt
}

type indexState struct {
	field string
	segs  []string
	plain bool
}

// writer is the readstore.Writer of one Batch.
type writer struct {
	ctx context.Context
	s   *Store
	nss map[readstore.NS]*nsState
	enc encoder
}

// Batch implements readstore.Store: fn's writes and checkpoints commit in
// one transaction, or not at all if fn or the commit fails.
func (s *Store) Batch(ctx context.Context, fn func(w readstore.Writer) error) error {
	return s.write(ctx, func() error {
		return fn(&writer{ctx: ctx, s: s, nss: map[readstore.NS]*nsState{}})
	})
}

// ns loads (and with create, makes) the namespace's table and index state.
func (w *writer) ns(ns readstore.NS, create bool) (*nsState, error) {
	if st, ok := w.nss[ns]; ok && (st.exists || !create) {
		return st, nil
	}
	if err := checkNS(ns); err != nil {
		return nil, err
	}
	st, err := w.s.loadNS(w.ctx, ns, create)
	if err != nil {
		return nil, err
	}
	w.nss[ns] = st
	return st, nil
}

// loadNS reads a namespace's registration and indexes inside the current
// write transaction, creating the table when asked. Callers hold wmu.
func (s *Store) loadNS(ctx context.Context, ns readstore.NS, create bool) (*nsState, error) {
	st := &nsState{tbl: tableName(ns)}
	q, err := s.stmt(ctx, `SELECT i.path, i.plain FROM rm_namespaces n LEFT JOIN rm_indexes i ON i.tbl = n.tbl WHERE n.tbl = ?`)
	if err != nil {
		return nil, err
	}
	rows, err := q.QueryContext(ctx, st.tbl)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		st.exists = true
		var path sql.NullString
		var plain sql.NullBool
		if err := rows.Scan(&path, &plain); err != nil {
			return nil, err
		}
		if path.Valid {
			st.indexes = append(st.indexes, indexState{field: path.String, segs: segments(path.String), plain: plain.Bool})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if st.exists || !create {
		return st, nil
	}
	if _, err := s.wconn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+st.tbl+` (_id TEXT PRIMARY KEY NOT NULL, data TEXT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("readstore/sqlite: create table for %v: %w", ns, err)
	}
	if _, err := s.wconn.ExecContext(ctx, `INSERT INTO rm_namespaces (tbl, app, coll) VALUES (?, ?, ?)`, st.tbl, ns.App, ns.Coll); err != nil {
		return nil, fmt.Errorf("readstore/sqlite: register %v: %w", ns, err)
	}
	st.exists = true
	return st, nil
}

// Get implements readstore.Writer: inside the transaction, so it sees the
// batch's own writes.
func (w *writer) Get(ns readstore.NS, id string) (readstore.Doc, error) {
	st, err := w.ns(ns, false)
	if err != nil {
		return nil, err
	}
	if !st.exists {
		return nil, readstore.ErrNotFound
	}
	q, err := w.s.stmt(w.ctx, `SELECT data FROM `+st.tbl+` WHERE _id = ?`)
	if err != nil {
		return nil, err
	}
	var raw []byte
	if err := q.QueryRowContext(w.ctx, id).Scan(&raw); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, readstore.ErrNotFound
		}
		return nil, err
	}
	return decode(raw, ns, id)
}

func decode(raw []byte, ns readstore.NS, id string) (readstore.Doc, error) {
	var d decoder
	doc, err := d.document(raw)
	if err != nil {
		return nil, fmt.Errorf("%w (%v %q)", err, ns, id)
	}
	return doc, nil
}

// Put implements readstore.Writer.
func (w *writer) Put(ns readstore.NS, doc readstore.Doc) error {
	id, err := docs.Validate(doc)
	if err != nil {
		return err
	}
	st, err := w.ns(ns, true)
	if err != nil {
		return err
	}
	for i := range st.indexes {
		ix := &st.indexes[i]
		if ix.plain && !plainAt(doc, ix.segs) {
			// From now on queries on this field must allow for arrays and
			// objects, so they stop using the index: MongoDB's multikey rule.
			if _, err := w.s.wconn.ExecContext(w.ctx, `UPDATE rm_indexes SET plain = 0 WHERE tbl = ? AND path = ?`, st.tbl, ix.field); err != nil {
				return err
			}
			ix.plain = false
		}
	}
	if st.upsert == nil {
		if st.upsert, err = w.s.stmt(w.ctx, `INSERT INTO `+st.tbl+` (_id, data) VALUES (?, ?) ON CONFLICT (_id) DO UPDATE SET data = excluded.data`); err != nil {
			return err
		}
	}
	// A string, not []byte: SQLite would store bytes as a BLOB, which its JSON
	// functions read as JSONB.
	if _, err := st.upsert.ExecContext(w.ctx, id, string(w.enc.encode(doc))); err != nil {
		return fmt.Errorf("readstore/sqlite: put %v %q: %w", ns, id, err)
	}
	return nil
}

// plainAt reports whether doc keeps a field plain: no array on the path and
// no object at its end.
func plainAt(doc map[string]any, segs []string) bool {
	var v any = doc
	for i, seg := range segs {
		obj, ok := v.(map[string]any)
		if !ok {
			return true
		}
		if v, ok = obj[seg]; !ok {
			return true
		}
		switch v.(type) {
		case []any:
			return false
		case map[string]any:
			if i == len(segs)-1 {
				return false
			}
		}
	}
	return true
}

// Delete implements readstore.Writer.
func (w *writer) Delete(ns readstore.NS, id string) error {
	st, err := w.ns(ns, false)
	if err != nil || !st.exists {
		return err
	}
	q, err := w.s.stmt(w.ctx, `DELETE FROM `+st.tbl+` WHERE _id = ?`)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(w.ctx, id)
	return err
}

// SetCheckpoint implements readstore.Writer.
func (w *writer) SetCheckpoint(name string, pos int64) error {
	q, err := w.s.stmt(w.ctx, `INSERT INTO rm_checkpoints (name, pos) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET pos = excluded.pos`)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(w.ctx, name, pos)
	return err
}

// EnsureIndex implements readstore.Store. Only fields whose path SQL can
// follow can be indexed (no positional segments, no '"' or '\').
func (s *Store) EnsureIndex(ctx context.Context, ns readstore.NS, field string) error {
	if err := query.CheckFields([]string{field}); err != nil {
		return err
	}
	segs := segments(field)
	if !simple(segs) {
		return fmt.Errorf("readstore/sqlite: cannot index %q: positional or quoted path segments are not indexable", field)
	}
	if err := checkNS(ns); err != nil {
		return err
	}
	return s.write(ctx, func() error {
		st, err := s.loadNS(ctx, ns, true)
		if err != nil {
			return err
		}
		for _, ix := range st.indexes {
			if ix.field == field {
				return nil
			}
		}
		path := jsonPath(segs)
		h := sha256.Sum256([]byte(field))
		name := "rm_i_" + strings.TrimPrefix(st.tbl, "rm_d_") + "_" + hex.EncodeToString(h[:8])
		if _, err := s.wconn.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS `+name+` ON `+st.tbl+` (`+rankExpr(path)+`, `+valueExpr(path)+`, _id)`); err != nil {
			return fmt.Errorf("readstore/sqlite: create index on %q: %w", field, err)
		}
		// Existing documents decide the plain flag.
		var conds []string
		for i := 1; i < len(segs); i++ {
			conds = append(conds, "json_type(data, "+jsonPath(segs[:i])+") = 'array'")
		}
		conds = append(conds, "json_type(data, "+path+") IN ('array', 'object')")
		var plain bool
		if err := s.wconn.QueryRowContext(ctx, `SELECT NOT EXISTS (SELECT 1 FROM `+st.tbl+` WHERE `+strings.Join(conds, " OR ")+`)`).Scan(&plain); err != nil {
			return err
		}
		_, err = s.wconn.ExecContext(ctx, `INSERT INTO rm_indexes (tbl, path, plain) VALUES (?, ?, ?)`, st.tbl, field, plain)
		return err
	})
}

// Reset implements readstore.Store.
func (s *Store) Reset(ctx context.Context) error {
	return s.write(ctx, func() error {
		rows, err := s.wconn.QueryContext(ctx, `SELECT tbl FROM rm_namespaces`)
		if err != nil {
			return err
		}
		var tbls []string
		for rows.Next() {
			var t string
			if err := rows.Scan(&t); err != nil {
				rows.Close()
				return err
			}
			tbls = append(tbls, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		// Statements on dropped tables must not outlive them.
		for text, st := range s.stmts {
			if strings.Contains(text, " rm_d_") {
				st.Close()
				delete(s.stmts, text)
			}
		}
		for _, t := range tbls {
			if _, err := s.wconn.ExecContext(ctx, `DROP TABLE IF EXISTS `+t); err != nil {
				return err
			}
		}
		_, err = s.wconn.ExecContext(ctx, `DELETE FROM rm_namespaces; DELETE FROM rm_indexes; DELETE FROM rm_checkpoints;`)
		return err
	})
}

// readStmt returns a read statement from the cache, preparing it if needed.
func (s *Store) readStmt(ctx context.Context, text string) (*sql.Stmt, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	if st, ok := s.rstmts[text]; ok {
		return st, nil
	}
	if len(s.rstmts) >= maxReadStmts {
		for _, old := range s.rstmts {
			old.Close() // database/sql defers the close while in use
		}
		clear(s.rstmts)
	}
	st, err := s.read.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	s.rstmts[text] = st
	return st, nil
}

// query runs a cached read statement in tx.
func (s *Store) query(ctx context.Context, tx *sql.Tx, text string, args ...any) (*sql.Rows, error) {
	st, err := s.readStmt(ctx, text)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

// readTx runs fn in one read snapshot.
func (s *Store) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// meta returns whether the namespace exists and its plain indexed fields.
func (s *Store) meta(ctx context.Context, tx *sql.Tx, tbl string) (bool, map[string]bool, error) {
	rows, err := s.query(ctx, tx, `SELECT i.path, i.plain FROM rm_namespaces n LEFT JOIN rm_indexes i ON i.tbl = n.tbl WHERE n.tbl = ?`, tbl)
	if err != nil {
		return false, nil, err
	}
	defer rows.Close()
	exists := false
	var plain map[string]bool
	for rows.Next() {
		exists = true
		var path sql.NullString
		var p sql.NullBool
		if err := rows.Scan(&path, &p); err != nil {
			return false, nil, err
		}
		if path.Valid && p.Bool {
			if plain == nil {
				plain = map[string]bool{}
			}
			plain[path.String] = true
		}
	}
	return exists, plain, rows.Err()
}

// Get implements readstore.Store.
func (s *Store) Get(ctx context.Context, ns readstore.NS, id string) (readstore.Doc, error) {
	if err := checkNS(ns); err != nil {
		return nil, err
	}
	var raw []byte
	st, err := s.readStmt(ctx, `SELECT data FROM `+tableName(ns)+` WHERE _id = ?`)
	if err == nil {
		err = st.QueryRowContext(ctx, id).Scan(&raw)
	}
	if errors.Is(err, sql.ErrNoRows) || isNoTable(err) {
		return nil, readstore.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return decode(raw, ns, id)
}

// isNoTable recognises a query on a namespace never written to.
func isNoTable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such table: rm_d_")
}

// Find implements readstore.Store.
func (s *Store) Find(ctx context.Context, ns readstore.NS, f readstore.Find) ([]readstore.Doc, error) {
	if err := checkNS(ns); err != nil {
		return nil, err
	}
	if f.Limit < 0 {
		return nil, &query.Error{Message: "limit must not be negative"}
	}
	if f.Fields != nil {
		if err := query.CheckFields(f.Fields); err != nil {
			return nil, err
		}
	}
	out := []readstore.Doc{}
	tbl := tableName(ns)
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		exists, plain, err := s.meta(ctx, tx, tbl)
		if err != nil || !exists {
			return err
		}
		text, c := s.findSQL(tbl, plain, f)
		defer s.plans.remove(c.args[0].(int64))
		rows, err := s.query(ctx, tx, text, c.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var raw sql.RawBytes
		var dec decoder
		for rows.Next() {
			if err := rows.Scan(&raw); err != nil {
				return err
			}
			doc, err := dec.document(raw)
			if err != nil {
				return fmt.Errorf("%w (%v)", err, ns)
			}
			if f.Fields != nil {
				doc = query.Project(doc, f.Fields)
			}
			out = append(out, doc)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// findSQL compiles a Find into SQL and registers its plan; the caller
// removes the plan when the statement is done.
func (s *Store) findSQL(tbl string, plain map[string]bool, f readstore.Find) (string, *compiler) {
	c := newCompiler(s.plans.add, plain)
	text := `SELECT data FROM ` + tbl + ` WHERE ` + c.where(f.Filter, "data") + ` ORDER BY ` + c.orderBy(f.Filter, f.Sort)
	if f.Limit > 0 {
		text += ` LIMIT ` + c.arg(int64(f.Limit))
	}
	return text, c
}

// Count implements readstore.Store.
func (s *Store) Count(ctx context.Context, ns readstore.NS, filter query.Expr) (int64, error) {
	if err := checkNS(ns); err != nil {
		return 0, err
	}
	var n int64
	tbl := tableName(ns)
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		exists, plain, err := s.meta(ctx, tx, tbl)
		if err != nil || !exists {
			return err
		}
		c := newCompiler(s.plans.add, plain)
		defer s.plans.remove(c.args[0].(int64))
		rows, err := s.query(ctx, tx, `SELECT count(*) FROM `+tbl+` WHERE `+c.where(filter, "data"), c.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			return rows.Err()
		}
		return rows.Scan(&n)
	})
	return n, err
}

// Checkpoint implements readstore.Store.
func (s *Store) Checkpoint(ctx context.Context, name string) (int64, error) {
	var pos int64
	err := s.read.QueryRowContext(ctx, `SELECT pos FROM rm_checkpoints WHERE name = ?`, name).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return pos, err
}

// Namespaces implements readstore.Store: namespaces holding at least one
// document, ordered by app and collection.
func (s *Store) Namespaces(ctx context.Context) ([]readstore.NS, error) {
	out := []readstore.NS{}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT tbl, app, coll FROM rm_namespaces ORDER BY app, coll`)
		if err != nil {
			return err
		}
		type entry struct {
			tbl string
			ns  readstore.NS
		}
		var all []entry
		for rows.Next() {
			var e entry
			if err := rows.Scan(&e.tbl, &e.ns.App, &e.ns.Coll); err != nil {
				rows.Close()
				return err
			}
			all = append(all, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range all {
			var nonEmpty bool
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM `+e.tbl+`)`).Scan(&nonEmpty); err != nil {
				return err
			}
			if nonEmpty {
				out = append(out, e.ns)
			}
		}
		return nil
	})
	return out, err
}
