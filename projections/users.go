package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/readstore"
)

// UsersNS is the read model of an app's end users: one document per user
// with its public profile. It holds no secret, not even hashed: passwords,
// codes and refresh tokens live only (hashed) in the user's stream.
func UsersNS(app string) readstore.NS { return readstore.NS{App: app, Coll: "_users"} }

// OutboxNS is the dev outbox of an app: one document per e-mail with a code.
// The code stays sealed here; the admin route opens it.
func OutboxNS(app string) readstore.NS { return readstore.NS{App: app, Coll: "_outbox"} }

// UsersProjection keeps UsersNS.
type UsersProjection struct{}

// Name implements Projection.
func (UsersProjection) Name() string { return "users@1" }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Apply implements Projection.
func (UsersProjection) Apply(w readstore.Writer, e eventstore.Event) error {
	id, ok := strings.CutPrefix(e.StreamID, "user-")
	if !ok {
		return nil
	}
	ns := UsersNS(e.AppID)
	if e.Type == domain.EventSignup {
		var p domain.SignupPayload
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			return err
		}
		doc := readstore.Doc{"_id": id, "email": p.Email, "email_verified": false, "display_name": nullable(p.DisplayName),
			"avatar_url": nil, "provider": p.Provider, "created_at": stamp(e.Time), "last_sign_in_at": nil}
		if p.Session != nil {
			doc["last_sign_in_at"] = stamp(e.Time)
		}
		return w.Put(ns, doc)
	}
	var set func(readstore.Doc)
	switch e.Type {
	case domain.EventLogin:
		set = func(d readstore.Doc) { d["last_sign_in_at"] = stamp(e.Time) }
	case domain.EventMagicLinkLogin:
		set = func(d readstore.Doc) { d["last_sign_in_at"], d["email_verified"] = stamp(e.Time), true }
	case domain.EventEmailVerified, domain.EventPasswordReset:
		set = func(d readstore.Doc) { d["email_verified"] = true }
	default:
		return nil
	}
	doc, err := w.Get(ns, id)
	if errors.Is(err, readstore.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	set(doc)
	return w.Put(ns, doc)
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// OutboxProjection keeps OutboxNS from the events that carry a code.
type OutboxProjection struct{}

// Name implements Projection.
func (OutboxProjection) Name() string { return "outbox@1" }

// Apply implements Projection.
func (OutboxProjection) Apply(w readstore.Writer, e eventstore.Event) error {
	if !domain.IsCodeEvent(e.Type) {
		return nil
	}
	var p domain.CodeIssuedPayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return err
	}
	return w.Put(OutboxNS(e.AppID), readstore.Doc{
		"_id": fmt.Sprintf("%020d", e.Position), "position": float64(e.Position), "kind": p.Purpose, "to": p.Email,
		"user_id": strings.TrimPrefix(e.StreamID, "user-"), "code_sealed": p.CodeSealed,
		"expires_at": stamp(p.ExpiresAt), "created_at": stamp(e.Time),
	})
}

// Users answers queries about end users.
type Users struct{ Reads readstore.Store }

// ByID returns the user's public profile, or domain.ErrUserNotFound.
func (u Users) ByID(ctx context.Context, appID, id string) (readstore.Doc, error) {
	doc, err := u.Reads.Get(ctx, UsersNS(appID), id)
	if errors.Is(err, readstore.ErrNotFound) {
		return nil, domain.ErrUserNotFound
	}
	return doc, err
}
