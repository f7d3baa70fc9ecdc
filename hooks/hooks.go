// Package hooks delivers post-auth hooks: after a signup, login, magic-link
// login or OAuth login, a POST of {event, user, isNewUser, provider} to the
// app's post_auth_url, signed with HMAC-SHA256. Delivery is driven by the
// log, off the request path (it never delays a token), with its own file
// checkpoint: retried with back-off, at least once across restarts (the
// X-Eventbase-Delivery header lets receivers drop repeats), and each outcome
// recorded in the app's audit log.
package hooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/internal/checkpoint"
	"github.com/eventbase/eventbase/internal/tail"
)

// Headers of a delivery.
const (
	SignatureHeader = "X-Eventbase-Signature" // t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
	EventHeader     = "X-Eventbase-Event"
	DeliveryHeader  = "X-Eventbase-Delivery" // the position of the sign-in event: stable across retries
)

// Sign returns the signature header value for body at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature is returned by Verify.
var ErrBadSignature = errors.New("hooks: bad signature")

// Verify checks a signature header, as a receiver does: the MAC must match
// and t must be within tolerance of now (replay protection).
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return ErrBadSignature
	}
	t := time.Unix(sec, 0)
	if d := now.Sub(t); d > tolerance || d < -tolerance {
		return ErrBadSignature
	}
	want := Sign(secret, t, body)
	if !hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig)) {
		return ErrBadSignature
	}
	return nil
}

// User is the user object of a delivery.
type User struct {
	ID          string  `json:"id"`
	Email       string  `json:"email"`
	Provider    string  `json:"provider"`
	DisplayName *string `json:"display_name"`
	AvatarURL   *string `json:"avatar_url"`
}

// Body is what the hook receives.
type Body struct {
	Event     string `json:"event"`
	User      User   `json:"user"`
	IsNewUser bool   `json:"isNewUser"`
	Provider  string `json:"provider"`
}

// Dispatcher follows the log and delivers hooks.
type Dispatcher struct {
	// Tail feeds the events of SignInTypes (see internal/tail).
	Tail *tail.Tail
	// Claim, when set (several nodes share the store), reports whether this
	// node is the one to deliver the hook of an event.
	Claim func(ctx context.Context, e eventstore.Event) bool
	// App returns the app (for its post_auth_url).
	App func(ctx context.Context, appID string) (*domain.App, error)
	// User loads a user from its stream.
	User func(ctx context.Context, appID, userID string) (*domain.User, error)
	// Record appends the outcome of a delivery to the log.
	Record func(ctx context.Context, appID string, p domain.AuthHookPayload, delivered bool) error
	// Secret returns the app's signing secret.
	Secret     func(appID string) string
	Client     *http.Client
	Checkpoint string
	Log        *slog.Logger
	Now        func() time.Time
	// Attempts per delivery (default 5), with back-off from RetryMin
	// (default 1 s) doubling up to RetryMax (default 1 min).
	Attempts           int
	RetryMin, RetryMax time.Duration
	// Concurrency bounds deliveries in flight (default 8), so one slow
	// receiver does not hold up the others.
	Concurrency int
	// MaxAge: sign-ins older than this are not delivered (default 1 h), so
	// a node without a checkpoint does not replay history to receivers.
	MaxAge time.Duration
}

func (d *Dispatcher) defaults() {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Client == nil {
		d.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if d.Attempts <= 0 {
		d.Attempts = 5
	}
	if d.RetryMin <= 0 {
		d.RetryMin = time.Second
	}
	if d.RetryMax <= 0 {
		d.RetryMax = time.Minute
	}
	if d.Concurrency <= 0 {
		d.Concurrency = 8
	}
	if d.MaxAge <= 0 {
		d.MaxAge = time.Hour
	}
}

// SignInTypes are the event types a hook may follow.
var SignInTypes = []string{domain.EventSignup, domain.EventLogin, domain.EventMagicLinkLogin, domain.EventOAuthLogin}

// Run delivers hooks until ctx ends; in-flight deliveries are abandoned
// (and redone after a restart).
func (d *Dispatcher) Run(ctx context.Context) error {
	d.defaults()
	cp := checkpoint.File(d.Checkpoint)
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		pos, err := cp.Load()
		if err == nil {
			prog := &progress{save: cp.Save, log: d.Log}
			slots := make(chan struct{}, d.Concurrency)
			err = d.Tail.Follow(ctx, pos, func(e eventstore.Event) error {
				prog.add(e.Position)
				body, url, ok := d.prepare(ctx, e)
				if ok && d.Claim != nil {
					ok = d.Claim(ctx, e)
				}
				if !ok {
					prog.finish(e.Position)
					return nil
				}
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return nil
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-slots }()
					if d.deliver(ctx, e, url, body) {
						prog.finish(e.Position)
					}
				}()
				return nil
			})
		}
		if err == nil || ctx.Err() != nil {
			return nil
		}
		d.Log.Error("hooks: reading the log failed; retrying", "err", err)
		select {
		case <-time.After(d.RetryMin):
		case <-ctx.Done():
		}
	}
	return nil
}

// prepare builds the delivery of a sign-in event, or reports there is none.
func (d *Dispatcher) prepare(ctx context.Context, e eventstore.Event) (*Body, string, bool) {
	if d.Now().Sub(e.Time) > d.MaxAge {
		return nil, "", false
	}
	app, err := d.App(ctx, e.AppID)
	if err != nil || app.PostAuthURL == "" {
		return nil, "", false
	}
	userID, ok := strings.CutPrefix(e.StreamID, "user-")
	if !ok {
		return nil, "", false
	}
	b := &Body{}
	switch e.Type {
	case domain.EventSignup:
		var p domain.SignupPayload
		if json.Unmarshal(e.Payload, &p) != nil || p.Provider != domain.ProviderEmail {
			return nil, "", false // a magic-link request creates users; its login is the event
		}
		b.Event, b.IsNewUser, b.Provider = domain.HookSignup, true, p.Provider
	default:
		var p domain.LoginPayload
		if json.Unmarshal(e.Payload, &p) != nil {
			return nil, "", false
		}
		b.Event, b.IsNewUser, b.Provider = e.Type, p.IsNewUser, p.Provider
	}
	u, err := d.User(ctx, e.AppID, userID)
	if err != nil || !u.Exists() {
		return nil, "", false
	}
	b.User = User{ID: u.ID, Email: u.Email, Provider: u.Provider, DisplayName: ptr(u.DisplayName), AvatarURL: ptr(u.AvatarURL)}
	return b, app.PostAuthURL, true
}

func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// deliver POSTs the hook until a 2xx or the attempts run out, then records
// the outcome. It reports false when ctx ended first.
func (d *Dispatcher) deliver(ctx context.Context, e eventstore.Event, url string, b *Body) bool {
	raw, _ := json.Marshal(b)
	rec := domain.AuthHookPayload{EventPosition: e.Position, Event: b.Event, UserID: b.User.ID, URL: url}
	wait := d.RetryMin
	var lastErr string
	for attempt := 1; attempt <= d.Attempts; attempt++ {
		rec.Attempts = attempt
		status, err := d.post(ctx, e, url, raw, b.Event)
		rec.Status = status
		if err == nil && status >= 200 && status < 300 {
			rec.Error = ""
			return d.record(ctx, e.AppID, rec, true)
		}
		if ctx.Err() != nil {
			return false
		}
		lastErr = fmt.Sprintf("status %d", status)
		if err != nil {
			lastErr = err.Error()
		}
		if attempt < d.Attempts {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return false
			}
			wait = min(wait*2, d.RetryMax)
		}
	}
	rec.Error = lastErr
	d.Log.Warn("hooks: post-auth hook failed after every attempt", "app_id", e.AppID, "position", e.Position, "err", lastErr)
	return d.record(ctx, e.AppID, rec, false)
}

func (d *Dispatcher) post(ctx context.Context, e eventstore.Event, url string, raw []byte, event string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "eventbase-hooks/1")
	req.Header.Set(SignatureHeader, Sign(d.Secret(e.AppID), d.Now(), raw))
	req.Header.Set(EventHeader, event)
	req.Header.Set(DeliveryHeader, e.AppID+"-"+strconv.FormatInt(e.Position, 10))
	res, err := d.Client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	return res.StatusCode, nil
}

func (d *Dispatcher) record(ctx context.Context, appID string, p domain.AuthHookPayload, delivered bool) bool {
	if err := d.Record(ctx, appID, p, delivered); err != nil {
		d.Log.Error("hooks: recording a delivery failed", "app_id", appID, "err", err)
	}
	return true
}

// progress moves the checkpoint over the longest prefix of finished
// positions, so a restart redoes only unfinished deliveries.
type progress struct {
	mu      sync.Mutex
	pending []int64
	done    map[int64]bool
	save    func(int64) error
	log     *slog.Logger
}

func (p *progress) add(pos int64) {
	p.mu.Lock()
	p.pending = append(p.pending, pos)
	p.mu.Unlock()
}

func (p *progress) finish(pos int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		p.done = map[int64]bool{}
	}
	p.done[pos] = true
	last := int64(-1)
	for len(p.pending) > 0 && p.done[p.pending[0]] {
		last = p.pending[0]
		delete(p.done, last)
		p.pending = p.pending[1:]
	}
	if last >= 0 {
		if err := p.save(last); err != nil {
			p.log.Error("hooks: saving the checkpoint failed", "err", err)
		}
	}
}
