package transport

import (
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	l := newLimiter(RateLimits{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	for _, tc := range []struct{ remote, xff, want string }{
		{"203.0.113.9:5000", "", "203.0.113.9"},
		{"203.0.113.9:5000", "1.2.3.4", "203.0.113.9"},             // untrusted peer: header ignored
		{"10.1.1.1:5000", "1.2.3.4", "1.2.3.4"},                    // trusted proxy
		{"10.1.1.1:5000", "6.6.6.6, 1.2.3.4, 10.2.2.2", "1.2.3.4"}, // right-most untrusted hop; the left is client-forged
		{"10.1.1.1:5000", "", "10.1.1.1"},                          // no header
		{"10.1.1.1:5000", "garbage, 10.2.2.2", "10.1.1.1"},         // malformed hop: stop trusting
		{"[::1]:5000", "2001:db8::7", "2001:db8::7"},               // IPv6 proxy
		{"[::ffff:10.0.0.5]:5000", "198.51.100.1", "198.51.100.1"}, // IPv4-mapped proxy address
		{"10.1.1.1:5000", "10.3.3.3, 10.2.2.2", "10.1.1.1"},        // every hop is a proxy
	} {
		r := httptest.NewRequest("POST", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := l.clientIP(r); got != tc.want {
			t.Errorf("%s + %q: %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestLimiterWindow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	l := newLimiter(RateLimits{Window: time.Minute})
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if ok, rem, _ := l.take("k", 3); !ok || rem != 2-i {
			t.Fatalf("request %d refused (remaining %d)", i, rem)
		}
	}
	if ok, _, reset := l.take("k", 3); ok || !reset.Equal(now.Add(time.Minute)) {
		t.Fatal("4th request allowed")
	}
	if ok, _, _ := l.take("other", 3); !ok {
		t.Fatal("keys share a budget")
	}
	now = now.Add(time.Minute)
	if ok, _, _ := l.take("k", 3); !ok {
		t.Fatal("window did not reset")
	}
	now = now.Add(time.Minute + time.Second) // sweeps run at most once a window
	l.take("k", 3)
	if len(l.buckets) != 1 {
		t.Fatalf("finished windows not swept: %d buckets", len(l.buckets))
	}
}
