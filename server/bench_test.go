package server_test

import (
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/server"
)

// BenchmarkCreateHTTP measures document creates through the full HTTP stack
// with 32 concurrent clients, each acknowledged only once durable and
// projected.
func BenchmarkCreateHTTP(b *testing.B) {
	s := ebtest.Start(b, server.Config{})
	app := s.CreateApp(b, "bench")
	h := ebtest.H{"x-api-key": app.SecretKey}
	path := s.URL + "/v1/" + app.AppID + "/items"
	ebtest.Do(b, "POST", path, h, map[string]any{"warm": true}).Status(b, 201)
	var n atomic.Int64
	b.SetParallelism(16) // 16 × GOMAXPROCS(2) = 32 clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			res := ebtest.Do(b, "POST", path, h, map[string]any{"title": fmt.Sprintf("doc %d", i), "price": i % 1000})
			if res.Code != 201 {
				b.Fatalf("status %d", res.Code)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

// BenchmarkListFiltered measures a range filter on an indexed field, sorted,
// limit 50, over 10,000 documents.
func BenchmarkListFiltered(b *testing.B) {
	s := ebtest.Start(b, server.Config{})
	app := s.CreateApp(b, "bench")
	h := ebtest.H{"x-api-key": app.SecretKey}
	s.Do(b, "PUT", "/v1/"+app.AppID+"/config/collections/items", h, map[string]any{"fields": []map[string]any{{"name": "price", "type": "number"}}}).Status(b, 200)
	path := s.URL + "/v1/" + app.AppID + "/items"
	var n atomic.Int64
	done := make(chan struct{})
	for w := 0; w < 16; w++ {
		go func() {
			for {
				i := n.Add(1)
				if i > 10000 {
					done <- struct{}{}
					return
				}
				ebtest.Do(b, "POST", path, h, map[string]any{"price": float64(i % 5000)})
			}
		}()
	}
	for w := 0; w < 16; w++ {
		<-done
	}
	time.Sleep(100 * time.Millisecond) // let index creation settle
	b.ResetTimer()
	lat := make([]time.Duration, 0, b.N)
	for i := 0; b.Loop(); i++ {
		lo := (i * 37) % 4900
		q := url.QueryEscape(fmt.Sprintf(`{"price":{"$gte":%d,"$lt":%d}}`, lo, lo+100))
		t0 := time.Now()
		res := ebtest.Do(b, "GET", path+"?limit=50&sort=-price&filter="+q, h, nil)
		lat = append(lat, time.Since(t0))
		if res.Code != 200 {
			b.Fatalf("status %d", res.Code)
		}
	}
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
}

func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[min(len(s)-1, int(q*float64(len(s))))]
}
