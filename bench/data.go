package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// CreateResult reports a create run.
type CreateResult struct {
	Clients int
	Created int64
	Errors  int64
	Elapsed time.Duration
	PerSec  float64
	Latency Latencies
}

func (r CreateResult) String() string {
	return fmt.Sprintf("creates: %d clients, %d created (%d errors) in %s = %.0f/s; latency %s",
		r.Clients, r.Created, r.Errors, r.Elapsed.Round(time.Millisecond), r.PerSec, r.Latency)
}

// Creates posts documents from clients concurrent clients until total
// documents are created or d passes.
func Creates(ctx context.Context, t Target, clients, total int, d time.Duration) (CreateResult, error) {
	if clients < 1 || total < 1 {
		return CreateResult{}, errors.New("bench: clients and total must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	c := client()
	var next, created, failed atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(total) {
					return
				}
				t0 := time.Now()
				code, _, err := do(c, "POST", t.URL+"/v1/"+t.AppID+"/bench", t.SecretKey,
					map[string]any{"title": fmt.Sprintf("doc %d", i), "price": i % 1000, "client": w})
				if err != nil || code != 201 {
					failed.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
				created.Add(1)
			}
		}(w)
	}
	wg.Wait()
	el := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return CreateResult{Clients: clients, Created: created.Load(), Errors: failed.Load(), Elapsed: el,
		PerSec: float64(created.Load()) / el.Seconds(), Latency: summarise(all)}, nil
}

// ListResult reports a filtered-list run.
type ListResult struct {
	Docs    int
	Queries int
	Errors  int
	Latency Latencies
}

func (r ListResult) String() string {
	return fmt.Sprintf("filtered list over %d docs (range on indexed field, sorted, limit 50): %d queries (%d errors); latency %s",
		r.Docs, r.Queries, r.Errors, r.Latency)
}

// Lists defines collection "items" with an indexed numeric field, seeds docs
// documents, then runs queries sequential range queries sorted by that field
// with limit 50.
func Lists(ctx context.Context, t Target, docs, queries int) (ListResult, error) {
	c := client()
	code, raw, err := do(c, "PUT", t.URL+"/v1/"+t.AppID+"/config/collections/items", t.SecretKey,
		map[string]any{"fields": []map[string]any{{"name": "price", "type": "number"}, {"name": "name", "type": "string"}}})
	if err != nil || code != 200 {
		return ListResult{}, fmt.Errorf("define collection: %d %s %v", code, raw, err)
	}
	var seeded atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := seeded.Add(1)
				if i > int64(docs) {
					return
				}
				_, _, _ = do(c, "POST", t.URL+"/v1/"+t.AppID+"/items", t.SecretKey, map[string]any{"name": fmt.Sprintf("item %d", i), "price": float64(i % 5000)})
			}
		}()
	}
	wg.Wait()
	res := ListResult{Docs: docs}
	var lat []time.Duration
	for q := 0; q < queries && ctx.Err() == nil; q++ {
		lo := (q * 37) % 4900
		filter := fmt.Sprintf(`{"price":{"$gte":%d,"$lt":%d}}`, lo, lo+100)
		t0 := time.Now()
		req := t.URL + "/v1/" + t.AppID + "/items?limit=50&sort=-price&filter=" + url.QueryEscape(filter)
		code, _, err := do(c, "GET", req, t.SecretKey, nil)
		if err != nil || code != 200 {
			res.Errors++
			continue
		}
		lat = append(lat, time.Since(t0))
		res.Queries++
	}
	res.Latency = summarise(lat)
	return res, nil
}
