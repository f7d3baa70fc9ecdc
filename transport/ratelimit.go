package transport

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RateLimits configures the per-client limits of the auth routes. The zero
// value enforces API.md's table with 15-minute windows.
type RateLimits struct {
	// Disabled switches every auth limit off (EVENTBASE_RATE_LIMITS=off).
	Disabled bool
	// Window replaces the 15-minute window (tests use a short one).
	Window time.Duration
	// Max overrides the limit of a route by name (signup, login, magic_link,
	// magic_link_verify, refresh, verify_email, forgot_password, reset_password).
	Max map[string]int
	// TrustedProxies are the peers whose X-Forwarded-For is believed. From
	// anyone else the header is ignored: it is client-controlled.
	TrustedProxies []netip.Prefix
}

// defaultLimits is API.md's table: requests per window per (app, client IP).
var defaultLimits = map[string]int{
	"signup": 5, "login": 10, "magic_link": 5, "magic_link_verify": 10, "refresh": 20,
	"verify_email": 10, "forgot_password": 3, "reset_password": 5,
}

// limiter counts requests per key in fixed windows.
type limiter struct {
	cfg     RateLimits
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*bucket
	sweepAt time.Time
}

type bucket struct {
	n     int
	reset time.Time
}

func newLimiter(cfg RateLimits) *limiter {
	if cfg.Window <= 0 {
		cfg.Window = 15 * time.Minute
	}
	return &limiter{cfg: cfg, now: time.Now, buckets: map[string]*bucket{}}
}

func (l *limiter) max(name string) int {
	if n, ok := l.cfg.Max[name]; ok {
		return n
	}
	return defaultLimits[name]
}

// take counts one request for key and reports whether it is allowed, with
// the remaining count and when the window resets.
func (l *limiter) take(key string, max int) (ok bool, remaining int, reset time.Time) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.sweepAt) { // forget finished windows now and then
		for k, b := range l.buckets {
			if !now.Before(b.reset) {
				delete(l.buckets, k)
			}
		}
		l.sweepAt = now.Add(l.cfg.Window)
	}
	b := l.buckets[key]
	if b == nil || !now.Before(b.reset) {
		b = &bucket{reset: now.Add(l.cfg.Window)}
		l.buckets[key] = b
	}
	if b.n >= max {
		return false, 0, b.reset
	}
	b.n++
	return true, max - b.n, b.reset
}

func (l *limiter) trusted(ip netip.Addr) bool {
	for _, p := range l.cfg.TrustedProxies {
		if p.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// clientIP is the peer's address or, when the peer is a trusted proxy, the
// right-most address of X-Forwarded-For that is not a trusted proxy.
func (l *limiter) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !l.trusted(ip) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a malformed hop: trust nothing further left
		}
		if !l.trusted(hop) {
			return hop.Unmap().String()
		}
	}
	return ip.Unmap().String()
}

// rateLimited limits next per (route name, app, client IP). It runs inside
// a resolver, so the caller's app is known.
func (a *API) rateLimited(name string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		l := a.limits
		if l == nil || l.cfg.Disabled {
			next(w, r)
			return
		}
		appID := ""
		if c := callerFrom(r.Context()); c != nil && c.App != nil {
			appID = c.App.ID
		}
		max := l.max(name)
		ok, remaining, reset := l.take(name+":"+appID+":"+l.clientIP(r), max)
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(max))
		h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		if !ok {
			secs := int(time.Until(reset).Seconds() + 0.999)
			h.Set("Retry-After", strconv.Itoa(max0(secs, 1)))
			writeError(w, r, errRateLimited)
			return
		}
		next(w, r)
	}
}

func max0(a, b int) int {
	if a < b {
		return b
	}
	return a
}
