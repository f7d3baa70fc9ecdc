package projections

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/query"
	"github.com/eventbase/eventbase/readstore"
)

// Digest returns a hash of every document of every namespace that keep
// selects, keyed by namespace, so two states of the read models can be
// compared without holding them in memory twice.
func Digest(ctx context.Context, reads readstore.Store, keep func(readstore.NS) bool) (map[readstore.NS]string, error) {
	nss, err := reads.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[readstore.NS]string, len(nss))
	for _, ns := range nss {
		if keep != nil && !keep(ns) {
			continue
		}
		docs, err := reads.Find(ctx, ns, readstore.Find{Sort: []query.SortField{{Field: "_id"}}})
		if err != nil {
			return nil, err
		}
		if len(docs) == 0 {
			continue
		}
		h := sha256.New()
		for _, d := range docs {
			raw, err := json.Marshal(d) // map keys are sorted: canonical
			if err != nil {
				return nil, err
			}
			h.Write(raw)
			h.Write([]byte{'\n'})
		}
		out[ns] = hex.EncodeToString(h.Sum(nil))
	}
	return out, nil
}

// Diff lists the namespaces whose digests differ, sorted.
func Diff(a, b map[readstore.NS]string) []string {
	var out []string
	for ns, h := range a {
		if b[ns] != h {
			out = append(out, ns.App+"/"+ns.Coll)
		}
	}
	for ns := range b {
		if _, ok := a[ns]; !ok {
			out = append(out, ns.App+"/"+ns.Coll)
		}
	}
	sort.Strings(out)
	return out
}

// RebuildResult reports a rebuild.
type RebuildResult struct {
	Events      int64    `json:"events"`
	Seconds     float64  `json:"seconds"`
	EventsPerS  float64  `json:"events_per_second"`
	Namespaces  int      `json:"namespaces"`
	Verified    bool     `json:"verified"`
	Differences []string `json:"differences,omitempty"`
}

// Rebuild drops every read model and replays the whole log through the
// runner's projections, then checks the rebuilt models equal the old ones.
// Nothing else may apply events meanwhile (the CLI holds the data lock).
func Rebuild(ctx context.Context, reads readstore.Store, r *Runner, progress func(applied int64)) (*RebuildResult, error) {
	before, err := Digest(ctx, reads, nil)
	if err != nil {
		return nil, err
	}
	if err := reads.Reset(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	var n int64
	if _, err := r.CatchUp(ctx, func(k int64) {
		n += k
		if progress != nil {
			progress(k)
		}
	}); err != nil {
		return nil, err
	}
	return verify(ctx, reads, nil, before, n, start)
}

// RebuildApp drops the read models of one app and replays that app's events
// while the runner is paused, then verifies them. Safe on a live node.
func RebuildApp(ctx context.Context, events eventstore.Store, reads readstore.Store, r *Runner, appID string) (*RebuildResult, error) {
	r.applyMu.Lock()
	defer r.applyMu.Unlock()
	mine := func(ns readstore.NS) bool { return ns.App == appID }
	before, err := Digest(ctx, reads, mine)
	if err != nil {
		return nil, err
	}
	upTo := r.applied.Load()
	nss, err := reads.Namespaces(ctx)
	if err != nil {
		return nil, err
	}
	for _, ns := range nss {
		if !mine(ns) {
			continue
		}
		docs, err := reads.Find(ctx, ns, readstore.Find{Fields: []string{"_id"}})
		if err != nil {
			return nil, err
		}
		if err := reads.Batch(ctx, func(w readstore.Writer) error {
			for _, d := range docs {
				if err := w.Delete(ns, d["_id"].(string)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	var n int64
	q := eventstore.Query{AppID: appID, Limit: eventstore.DefaultLimit}
	for {
		evs, err := events.Read(ctx, q)
		if err != nil {
			return nil, err
		}
		for len(evs) > 0 && evs[len(evs)-1].Position > upTo {
			evs = evs[:len(evs)-1]
		}
		if len(evs) == 0 {
			break
		}
		if err := reads.Batch(ctx, func(w readstore.Writer) error {
			nw := noCheckpoint{w}
			for _, p := range r.projs {
				for _, e := range evs {
					at(w, e.Position)
					if err := p.Apply(nw, e); err != nil {
						return err
					}
				}
			}
			return nil
		}); err != nil {
			return nil, err
		}
		n += int64(len(evs))
		q.After = evs[len(evs)-1].Position
	}
	return verify(ctx, reads, mine, before, n, start)
}

// verify reports a rebuild of n events begun at start, comparing the
// namespaces keep selects with their digests before.
func verify(ctx context.Context, reads readstore.Store, keep func(readstore.NS) bool, before map[readstore.NS]string, n int64, start time.Time) (*RebuildResult, error) {
	res := &RebuildResult{Events: n, Seconds: time.Since(start).Seconds()}
	if res.Seconds > 0 {
		res.EventsPerS = float64(n) / res.Seconds
	}
	after, err := Digest(ctx, reads, keep)
	if err != nil {
		return nil, err
	}
	res.Namespaces = len(after)
	res.Differences = Diff(before, after)
	res.Verified = len(res.Differences) == 0
	if !res.Verified {
		return res, fmt.Errorf("%w: %s", ErrDiverged, strings.Join(res.Differences, ", "))
	}
	return res, nil
}

// noCheckpoint keeps a partial replay from moving the global checkpoints.
type noCheckpoint struct{ readstore.Writer }

func (noCheckpoint) SetCheckpoint(string, int64) error { return nil }
