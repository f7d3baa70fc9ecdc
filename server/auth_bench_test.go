package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/eventbase/eventbase/internal/ebtest"
	"github.com/eventbase/eventbase/server"
)

// BenchmarkAuthLogin measures password logins over HTTP (argon2id check,
// login event appended and projected, token signed), with rate limits off.
func BenchmarkAuthLogin(b *testing.B) {
	s := ebtest.Start(b, server.Config{RateLimits: false})
	app := s.CreateApp(b, "bench")
	const users = 16
	for i := 0; i < users; i++ {
		s.Do(b, "POST", authPath(app, "/signup"), nil, map[string]any{"email": fmt.Sprintf("b%d@example.com", i), "password": goodPassword}).Status(b, 201)
	}
	url := s.URL + authPath(app, "/login")
	b.ResetTimer()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		body := []byte(fmt.Sprintf(`{"email":"b%d@example.com","password":%q}`, n.Add(1)%users, goodPassword))
		for pb.Next() {
			res, err := http.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}
