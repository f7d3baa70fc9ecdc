// Package sqlite is the embedded event store: one SQLite file (pure Go
// driver, WAL journal, synchronous=FULL) with concurrent appends
// group-committed by a single writer goroutine, so that many callers share
// one transaction and one fsync.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/eventbase/eventbase/eventstore"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

const schema = `
CREATE TABLE IF NOT EXISTS events (
	position   INTEGER PRIMARY KEY,
	app_id     TEXT    NOT NULL,
	stream_id  TEXT    NOT NULL,
	version    INTEGER NOT NULL,
	type       TEXT    NOT NULL,
	time       INTEGER NOT NULL,
	actor      TEXT    NOT NULL,
	request_id TEXT    NOT NULL,
	payload    BLOB    NOT NULL,
	UNIQUE (app_id, stream_id, version)
);
CREATE INDEX IF NOT EXISTS events_app_position ON events (app_id, position);
`

// maxBatch bounds how many appends share one transaction; past this the
// latency of the first caller grows for little more throughput.
const maxBatch = 256

// Sync is the fsync policy of the log.
type Sync string

const (
	// SyncFull fsyncs the WAL at every commit: an acknowledged append
	// survives a process kill and a power loss. The default.
	SyncFull Sync = "full"
	// SyncNormal fsyncs only at WAL checkpoints: an acknowledged append
	// survives a process kill (the WAL is in the OS's page cache), but a
	// power loss or OS crash may lose the last commits.
	SyncNormal Sync = "normal"
)

// dsn returns the SQLite connection string for path with the pragmas every
// connection needs.
func dsn(path string, sync Sync) string {
	mode := "FULL"
	if sync == SyncNormal {
		mode = "NORMAL"
	}
	return "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(" + mode + ")&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_txlock=immediate"
}

// Store is the SQLite event store. It is safe for concurrent use, and for use
// by several processes on one file (SQLite's locking serialises writers).
type Store struct {
	read  *sql.DB
	write *sql.DB
	reqs  chan *request
	// versionStmt and insertStmt are prepared once on the single writer
	// connection and bound to each batch's transaction with tx.Stmt.
	versionStmt *sql.Stmt
	insertStmt  *sql.Stmt
	wg          sync.WaitGroup
	sig         eventstore.Signal
	now         func() time.Time

	closeOnce sync.Once
	mu        sync.RWMutex // guards closed against in-flight sends on reqs
	closed    bool
}

type request struct {
	a      eventstore.Append
	result []eventstore.Event
	err    error
	done   chan struct{}
}

// Open opens (creating if needed) the event store in the SQLite file at
// path, with the SyncFull policy.
func Open(path string) (*Store, error) { return OpenSync(path, SyncFull) }

// OpenSync opens the event store with an fsync policy.
func OpenSync(path string, sync Sync) (*Store, error) {
	if sync != SyncFull && sync != SyncNormal {
		return nil, fmt.Errorf("eventstore/sqlite: unknown sync policy %q (full or normal)", sync)
	}
	write, err := sql.Open("sqlite", dsn(path, sync))
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	if _, err := write.Exec(schema); err != nil {
		write.Close()
		return nil, fmt.Errorf("eventstore/sqlite: open %s: %w", path, err)
	}
	if err := quickCheck(write); err != nil {
		write.Close()
		return nil, fmt.Errorf("eventstore/sqlite: %s is damaged: %w", path, err)
	}
	read, err := sql.Open("sqlite", dsn(path, sync)+"&_pragma=query_only(1)")
	if err != nil {
		write.Close()
		return nil, err
	}
	read.SetMaxOpenConns(8)
	s := &Store{
		read:  read,
		write: write,
		reqs:  make(chan *request, maxBatch),
		now:   time.Now,
	}
	if s.versionStmt, err = write.Prepare(`SELECT COALESCE(MAX(version), 0) FROM events WHERE app_id = ? AND stream_id = ?`); err == nil {
		s.insertStmt, err = write.Prepare(`INSERT INTO events (app_id, stream_id, version, type, time, actor, request_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	}
	if err != nil {
		read.Close()
		write.Close()
		return nil, fmt.Errorf("eventstore/sqlite: prepare: %w", err)
	}
	s.wg.Add(1)
	go s.writer()
	return s, nil
}

func quickCheck(db *sql.DB) error {
	var res string
	if err := db.QueryRow("PRAGMA quick_check").Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return errors.New(res)
	}
	return nil
}

// DB returns the writer pool, for read models that share the file.
func (s *Store) DB() *sql.DB { return s.write }

// Append implements eventstore.Store. Concurrent calls are committed together.
func (s *Store) Append(ctx context.Context, a eventstore.Append) ([]eventstore.Event, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	r := &request{a: a, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, eventstore.ErrClosed
	}
	select {
	case s.reqs <- r:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return nil, ctx.Err()
	}
	// Once queued the append will be decided; wait for the verdict even if
	// ctx ends, so a caller never reports failure for a durable write.
	<-r.done
	return r.result, r.err
}

// writer drains the request queue, committing each batch in one transaction.
func (s *Store) writer() {
	defer s.wg.Done()
	batch := make([]*request, 0, maxBatch)
	for {
		r, ok := <-s.reqs
		if !ok {
			return
		}
		batch = append(batch[:0], r)
	drain:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*request) {
	err := s.commitTx(batch)
	for _, r := range batch {
		if err != nil {
			r.result, r.err = nil, err
		}
		close(r.done)
	}
	if err == nil {
		s.sig.Notify()
	}
}

type streamKey struct{ app, stream string }

func (s *Store) commitTx(batch []*request) (err error) {
	ctx := context.Background()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	versionStmt := tx.StmtContext(ctx, s.versionStmt)
	insertStmt := tx.StmtContext(ctx, s.insertStmt)

	// Versions written earlier in this batch are not visible to MAX() until
	// the insert, but they are: track them so two appends to one stream in
	// one batch are checked against each other.
	versions := make(map[streamKey]int64, len(batch))
	now := s.now().UTC()
	for _, r := range batch {
		key := streamKey{r.a.AppID, r.a.StreamID}
		cur, seen := versions[key]
		if !seen {
			if err := versionStmt.QueryRowContext(ctx, r.a.AppID, r.a.StreamID).Scan(&cur); err != nil {
				return unavailable(err)
			}
		}
		if r.a.Expected != eventstore.Any && r.a.Expected != cur {
			r.err = &eventstore.ConflictError{AppID: r.a.AppID, StreamID: r.a.StreamID, Expected: r.a.Expected, Actual: cur}
			versions[key] = cur
			continue
		}
		out := make([]eventstore.Event, len(r.a.Events))
		for i, p := range r.a.Events {
			t := p.Time
			if t.IsZero() {
				t = now
			}
			payload := p.Payload
			if len(payload) == 0 {
				payload = []byte("{}")
			}
			v := cur + int64(i) + 1
			res, err := insertStmt.ExecContext(ctx, r.a.AppID, r.a.StreamID, v, p.Type, t.UnixNano(), p.Actor, p.RequestID, []byte(payload))
			if err != nil {
				return unavailable(err)
			}
			pos, err := res.LastInsertId()
			if err != nil {
				return unavailable(err)
			}
			out[i] = eventstore.Event{Position: pos, AppID: r.a.AppID, StreamID: r.a.StreamID, Version: v,
				Type: p.Type, Time: time.Unix(0, t.UnixNano()).UTC(), Actor: p.Actor, RequestID: p.RequestID, Payload: payload}
		}
		versions[key] = cur + int64(len(r.a.Events))
		r.result = out
	}
	if err := tx.Commit(); err != nil {
		return unavailable(err)
	}
	return nil
}

func unavailable(err error) error {
	return fmt.Errorf("%w: %v", eventstore.ErrUnavailable, err)
}

const columns = `position, app_id, stream_id, version, type, time, actor, request_id, payload`

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, appID, streamID string, afterVersion int64) ([]eventstore.Event, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+columns+` FROM events WHERE app_id = ? AND stream_id = ? AND version > ? ORDER BY version`, appID, streamID, afterVersion)
	if err != nil {
		return nil, unavailable(err)
	}
	return scan(rows, 0)
}

// Read implements eventstore.Store. SQLite commits are serialised and
// positions are assigned inside the writing transaction, so a reader can
// never see position N+1 before N: there are no gaps to wait for.
func (s *Store) Read(ctx context.Context, q eventstore.Query) ([]eventstore.Event, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = eventstore.DefaultLimit
	}
	var where []string
	var args []any
	where = append(where, "position > ?")
	args = append(args, q.After)
	if q.AppID != "" {
		where = append(where, "app_id = ?")
		args = append(args, q.AppID)
	}
	if q.StreamID != "" {
		where = append(where, "stream_id = ?")
		args = append(args, q.StreamID)
	}
	if q.Actor != "" {
		where = append(where, "actor = ?")
		args = append(args, q.Actor)
	}
	if !q.From.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, q.From.UnixNano())
	}
	if !q.To.IsZero() {
		where = append(where, "time <= ?")
		args = append(args, q.To.UnixNano())
	}
	if len(q.Types) > 0 {
		where = append(where, "type IN (?"+strings.Repeat(",?", len(q.Types)-1)+")")
		for _, t := range q.Types {
			args = append(args, t)
		}
	}
	args = append(args, limit)
	rows, err := s.read.QueryContext(ctx, `SELECT `+columns+` FROM events WHERE `+strings.Join(where, " AND ")+` ORDER BY position LIMIT ?`, args...)
	if err != nil {
		return nil, unavailable(err)
	}
	return scan(rows, limit)
}

func scan(rows *sql.Rows, capHint int) ([]eventstore.Event, error) {
	defer rows.Close()
	out := make([]eventstore.Event, 0, min(capHint, 64))
	for rows.Next() {
		var e eventstore.Event
		var t int64
		var payload []byte
		if err := rows.Scan(&e.Position, &e.AppID, &e.StreamID, &e.Version, &e.Type, &t, &e.Actor, &e.RequestID, &payload); err != nil {
			return nil, unavailable(err)
		}
		e.Time = time.Unix(0, t).UTC()
		e.Payload = payload
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable(err)
	}
	return out, nil
}

// Head implements eventstore.Header: the last position.
func (s *Store) Head(ctx context.Context) (int64, error) {
	var pos int64
	if err := s.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(position), 0) FROM events`).Scan(&pos); err != nil {
		return 0, unavailable(err)
	}
	return pos, nil
}

// Changed implements eventstore.Store.
func (s *Store) Changed() <-chan struct{} { return s.sig.Wait() }

// Close stops the writer after it has committed every queued append, then
// closes the database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.reqs)
		s.mu.Unlock()
		s.wg.Wait()
		err = errors.Join(s.versionStmt.Close(), s.insertStmt.Close(), s.read.Close(), s.write.Close())
	})
	return err
}
