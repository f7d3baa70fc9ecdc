// Package bench is eventbase's load tool (`eventbase bench …`): it drives a
// running server (or one it starts itself on a temporary data directory)
// over HTTP and WebSocket, bounded in count and time, and reports
// throughput, latency percentiles and, for realtime, missed and duplicated
// deliveries.
package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Target is the server and app a run talks to.
type Target struct {
	URL       string // e.g. http://127.0.0.1:8090
	AppID     string
	SecretKey string
	PubKey    string
}

// Latencies summarises a set of durations.
type Latencies struct {
	N             int
	P50, P99, Max time.Duration
}

func summarise(ds []time.Duration) Latencies {
	if len(ds) == 0 {
		return Latencies{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	pick := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return Latencies{N: len(ds), P50: pick(0.50), P99: pick(0.99), Max: ds[len(ds)-1]}
}

func (l Latencies) String() string {
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", l.N, l.P50.Round(10*time.Microsecond), l.P99.Round(10*time.Microsecond), l.Max.Round(10*time.Microsecond))
}

// client is an HTTP client tuned for many concurrent keep-alive connections
// to one host.
func client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 1024
	tr.MaxIdleConnsPerHost = 1024
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

func do(c *http.Client, method, url, key string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

// CreateApp creates an app through the admin API with an admin token.
func CreateApp(baseURL, adminToken, name string) (Target, error) {
	req, _ := http.NewRequest("POST", baseURL+"/admin/v1/apps", strings.NewReader(`{"name":"`+name+`"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Target{}, err
	}
	defer resp.Body.Close()
	var out struct {
		AppID          string `json:"app_id"`
		PublishableKey string `json:"publishable_key"`
		SecretKey      string `json:"secret_key"`
	}
	if resp.StatusCode != 201 {
		raw, _ := io.ReadAll(resp.Body)
		return Target{}, fmt.Errorf("create app: %d %s", resp.StatusCode, raw)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return Target{}, err
	}
	return Target{URL: baseURL, AppID: out.AppID, SecretKey: out.SecretKey, PubKey: out.PublishableKey}, nil
}
