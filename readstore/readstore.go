// Package readstore is the port for projected read models: namespaced
// collections of JSON documents with MongoDB-style queries. Projections
// write through it and the query side reads through it. Everything in it can
// be dropped and rebuilt from the event log. Adapters: readstore/sqlite and
// readstore/mongo; both pass readstore/readstoretest.
package readstore

import (
	"context"
	"errors"

	"github.com/eventbase/eventbase/query"
)

// ErrNotFound is returned by Get when no document has the id.
var ErrNotFound = errors.New("readstore: not found")

// Doc is a JSON document as decoded by encoding/json into `any`: values are
// nil, bool, float64, string, []any or map[string]any. Every stored document
// has a string "_id".
type Doc = map[string]any

// NS names one collection of one app. App "" holds system-wide read models
// (apps, admins). Coll names starting with "_" are internal (e.g. "_users").
type NS struct {
	App  string
	Coll string
}

// Find describes a list query. Sorting is by Sort then by _id ascending as a
// final tie-breaker, so pages are stable.
type Find struct {
	Filter query.Expr // nil matches everything
	Sort   []query.SortField
	Limit  int      // 0 means no limit
	Fields []string // projection; nil returns whole documents. _id is always kept.
}

// Writer applies changes inside Store.Batch.
type Writer interface {
	// Get reads a document as this batch sees it: including the batch's own
	// earlier writes. Projections whose events carry a partial change (app
	// configuration) read the current state through it. ErrNotFound if absent.
	Get(ns NS, id string) (Doc, error)
	Put(ns NS, doc Doc) error // insert or replace the document with doc["_id"]
	Delete(ns NS, id string) error
	// SetCheckpoint records that projection name has applied every event up
	// to position pos. It commits with the batch where the adapter can.
	SetCheckpoint(name string, pos int64) error
}

// PositionedWriter is implemented by the writers of stores that several
// processes may write at once (MongoDB shared by several nodes), where a
// lagging node, or a batch re-applied after a crash, would otherwise put
// back an older version of a document, recreate a deleted one or move a
// checkpoint back. At says which log position the writes that follow come
// from, until the next At; At(0) goes back to unpositioned writes. A
// positioned Put or Delete takes effect unless the document was last
// written from a later position, and a positioned Delete leaves a
// tombstone that keeps earlier positions from recreating the document.
// Unpositioned writes always take effect and Delete removes the document
// outright. Such stores also never move a checkpoint back. Writers of
// stores that one process owns (SQLite) need not implement it.
type PositionedWriter interface {
	At(pos int64)
}

// Store is the read-model port.
type Store interface {
	// Batch runs fn and commits what it wrote; on SQLite in one transaction.
	// On MongoDB the batch's last write to each document is applied and the
	// checkpoints last, so a crash re-applies a batch: projections make their
	// writes idempotent, and positioned writes (PositionedWriter) keep the
	// re-applied ones from undoing later ones.
	Batch(ctx context.Context, fn func(w Writer) error) error
	Get(ctx context.Context, ns NS, id string) (Doc, error)
	Find(ctx context.Context, ns NS, f Find) ([]Doc, error)
	Count(ctx context.Context, ns NS, filter query.Expr) (int64, error)
	// EnsureIndex makes equality and range queries and sorts on field (a
	// dotted path) use an index. Idempotent.
	EnsureIndex(ctx context.Context, ns NS, field string) error
	// Checkpoint returns the last position SetCheckpoint stored for name (0 if none).
	Checkpoint(ctx context.Context, name string) (int64, error)
	// Namespaces lists every namespace holding documents (for replay checks).
	Namespaces(ctx context.Context) ([]NS, error)
	// Reset drops every namespace and checkpoint: the start of a rebuild.
	Reset(ctx context.Context) error
	Close() error
}
