package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// RealtimeConfig shapes a realtime run.
type RealtimeConfig struct {
	Subscribers int           // WebSocket connections, one subscription each
	Collections int           // subscribers are spread evenly over this many collections
	Rate        int           // writes per second, round-robin over the collections
	Duration    time.Duration // how long to write
}

// RealtimeResult reports a realtime run.
type RealtimeResult struct {
	Config          RealtimeConfig
	Writes          int
	Expected        int64
	Delivered       int64
	Missed          int64
	Duplicated      int64
	Latency         Latencies
	RSSBefore       int64 // server resident memory before connecting, bytes
	RSSAfter        int64 // after connecting and subscribing
	BytesPerConn    int64
	ConnectDuration time.Duration
	// MissedWrites counts, per write (its seq), the subscribers that missed it.
	MissedWrites map[int]int
}

func (r RealtimeResult) String() string {
	return fmt.Sprintf("realtime: %d subscribers over %d collections, %d writes at %d/s for %s\n"+
		"  deliveries: expected %d, delivered %d, missed %d, duplicated %d\n"+
		"  delivery latency (event time → client): %s\n"+
		"  server RSS: %.1f MiB before, %.1f MiB with all connections = %.1f KiB per connection (connect+subscribe took %s)",
		r.Config.Subscribers, r.Config.Collections, r.Writes, r.Config.Rate, r.Config.Duration,
		r.Expected, r.Delivered, r.Missed, r.Duplicated, r.Latency,
		float64(r.RSSBefore)/(1<<20), float64(r.RSSAfter)/(1<<20), float64(r.BytesPerConn)/1024, r.ConnectDuration.Round(time.Millisecond)) +
		r.missedSummary()
}

// missedSummary names up to 10 missed writes and how many subscribers missed each.
func (r RealtimeResult) missedSummary() string {
	if len(r.MissedWrites) == 0 {
		return ""
	}
	seqs := make([]int, 0, len(r.MissedWrites))
	for w := range r.MissedWrites {
		seqs = append(seqs, w)
	}
	sort.Ints(seqs)
	out := fmt.Sprintf("\n  missed writes (seq: subscribers): %d writes;", len(seqs))
	for i, w := range seqs {
		if i == 10 {
			out += " …"
			break
		}
		out += fmt.Sprintf(" %d:%d", w, r.MissedWrites[w])
	}
	return out
}

type subscriber struct {
	coll int
	ws   *websocket.Conn
	mu   sync.Mutex
	seen map[int]int
	lat  []time.Duration
}

// Realtime opens the subscribers, writes at a fixed rate, and checks every
// subscriber received every write to its collection exactly once.
func Realtime(ctx context.Context, t Target, cfg RealtimeConfig) (RealtimeResult, error) {
	res := RealtimeResult{Config: cfg}
	if cfg.Subscribers < 1 || cfg.Collections < 1 || cfg.Rate < 1 || cfg.Duration <= 0 {
		return res, errors.New("bench: subscribers, collections, rate and duration must be positive")
	}
	hc := client()
	for i := 0; i < cfg.Collections; i++ {
		code, raw, err := do(hc, "POST", fmt.Sprintf("%s/v1/%s/c%d", t.URL, t.AppID, i), t.SecretKey, map[string]any{"seq": -1})
		if err != nil || code != 201 {
			return res, fmt.Errorf("seed collection: %d %s %v", code, raw, err)
		}
	}
	var err error
	if res.RSSBefore, err = serverRSS(hc, t.URL); err != nil {
		return res, err
	}
	wsURL := "ws" + strings.TrimPrefix(t.URL, "http") + "/v1/" + t.AppID + "/realtime?apikey=" + t.PubKey
	subs := make([]*subscriber, cfg.Subscribers)
	start := time.Now()
	sem := make(chan struct{}, 64)
	var dialErr atomic.Value
	var wg sync.WaitGroup
	for i := range subs {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			s := &subscriber{coll: i % cfg.Collections, seen: map[int]int{}}
			d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
			ws, _, err := d.DialContext(ctx, wsURL, nil)
			if err != nil {
				dialErr.Store(err)
				return
			}
			s.ws = ws
			_ = ws.WriteJSON(map[string]any{"type": "subscribe", "id": "s", "collection": fmt.Sprintf("c%d", s.coll)})
			for {
				var m map[string]any
				_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
				if err := ws.ReadJSON(&m); err != nil {
					dialErr.Store(err)
					return
				}
				if m["type"] == "subscribed" {
					break
				}
			}
			subs[i] = s
		}(i)
	}
	wg.Wait()
	if e, ok := dialErr.Load().(error); ok {
		closeAll(subs)
		return res, fmt.Errorf("opening subscribers: %w", e)
	}
	res.ConnectDuration = time.Since(start)
	time.Sleep(500 * time.Millisecond)
	if res.RSSAfter, err = serverRSS(hc, t.URL); err != nil {
		closeAll(subs)
		return res, err
	}
	res.BytesPerConn = (res.RSSAfter - res.RSSBefore) / int64(cfg.Subscribers)

	var readers sync.WaitGroup
	for _, s := range subs {
		readers.Add(1)
		go func(s *subscriber) {
			defer readers.Done()
			for {
				_, raw, err := s.ws.ReadMessage()
				if err != nil {
					return
				}
				now := time.Now()
				var m struct {
					Type string `json:"type"`
					Doc  struct {
						Seq int `json:"seq"`
					} `json:"doc"`
					TS time.Time `json:"ts"`
				}
				if json.Unmarshal(raw, &m) != nil || m.Type != "change" {
					continue
				}
				s.mu.Lock()
				s.seen[m.Doc.Seq]++
				s.lat = append(s.lat, now.Sub(m.TS))
				s.mu.Unlock()
			}
		}(s)
	}

	// Write at a fixed rate, each write to one collection.
	total := int(float64(cfg.Rate) * cfg.Duration.Seconds())
	tick := time.NewTicker(time.Second / time.Duration(cfg.Rate))
	var writers sync.WaitGroup
	var failed atomic.Int64
	for w := 0; w < total && ctx.Err() == nil; w++ {
		<-tick.C
		writers.Add(1)
		go func(w int) {
			defer writers.Done()
			code, _, err := do(hc, "POST", fmt.Sprintf("%s/v1/%s/c%d", t.URL, t.AppID, w%cfg.Collections), t.SecretKey, map[string]any{"seq": w})
			if err != nil || code != 201 {
				failed.Add(1)
			}
		}(w)
	}
	tick.Stop()
	writers.Wait()
	res.Writes = total - int(failed.Load())
	time.Sleep(2 * time.Second) // let the last deliveries land
	closeAll(subs)
	readers.Wait()

	var lat []time.Duration
	for _, s := range subs {
		for w := 0; w < total; w++ {
			if w%cfg.Collections != s.coll {
				continue
			}
			res.Expected++
			switch n := s.seen[w]; {
			case n == 0:
				res.Missed++
				if res.MissedWrites == nil {
					res.MissedWrites = map[int]int{}
				}
				res.MissedWrites[w]++
			case n > 1:
				res.Duplicated += int64(n - 1)
				res.Delivered += int64(n)
			default:
				res.Delivered++
			}
		}
		lat = append(lat, s.lat...)
	}
	res.Latency = summarise(lat)
	if failed.Load() > 0 {
		return res, fmt.Errorf("%d writes failed", failed.Load())
	}
	return res, nil
}

func closeAll(subs []*subscriber) {
	for _, s := range subs {
		if s != nil && s.ws != nil {
			_ = s.ws.Close()
		}
	}
}

// serverRSS reads process_resident_memory_bytes from the server's metrics.
func serverRSS(c *http.Client, base string) (int64, error) {
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "process_resident_memory_bytes ") {
			f, err := strconv.ParseFloat(strings.TrimPrefix(line, "process_resident_memory_bytes "), 64)
			return int64(f), err
		}
	}
	return 0, errors.New("bench: server metrics have no process_resident_memory_bytes")
}
