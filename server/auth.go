package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/eventbase/eventbase/commands"
	"github.com/eventbase/eventbase/domain"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/hooks"
	"github.com/eventbase/eventbase/internal/tail"
	"github.com/eventbase/eventbase/mailer"
	"github.com/eventbase/eventbase/projections"
	"github.com/eventbase/eventbase/secret"
	"github.com/eventbase/eventbase/tokens"
	"github.com/eventbase/eventbase/transport"
)

// authParts are the end-user auth pieces of a node: token service, route
// dependencies and the mailer that runs beside the projections.
type authParts struct {
	tokens *tokens.Service
	deps   transport.AuthDeps
	mailer *mailer.Mailer
	hooks  *hooks.Dispatcher
}

func openAuth(cfg Config, st *Stores, cmd *commands.Service, runner *projections.Runner, apps *projections.Apps) (*authParts, error) {
	key, err := loadMasterKey(cfg)
	if err != nil {
		return nil, err
	}
	sealer, err := secret.NewSealer(key)
	if err != nil {
		return nil, err
	}
	proxies, err := parseProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, err
	}
	if cfg.Now != nil {
		cmd.Now = cfg.Now // set before the node serves: tests move time forward
	}
	tok := tokens.New(cmd, sealer, tokens.Config{PublicURL: cfg.PublicURL, Now: cfg.Now})
	runner.OnApplied(tok.Invalidate)
	var sender mailer.Sender = mailer.LogSender{Log: cfg.Log}
	if cfg.SMTPURL != "" {
		if sender, err = mailer.NewSMTP(cfg.SMTPURL, cfg.MailFrom); err != nil {
			return nil, err
		}
	}
	users := commands.NewAuth(cmd, sealer)
	// Mail and hooks ride on the runner's batches (registered before it
	// applies anything past its current position).
	mailTail := tail.New(st.Events, mailer.CodeTypes, runner.Position())
	hookTail := tail.New(st.Events, hooks.SignInTypes, runner.Position())
	runner.OnApplied(mailTail.Push)
	runner.OnApplied(hookTail.Push)
	appByID := func(ctx context.Context, id string) (*domain.App, error) { return apps.ByID(ctx, id) }
	hookSecret := func(appID string) string { return "whsec_" + sealer.MAC("post-auth-hook", appID) }
	parts := &authParts{
		tokens: tok,
		deps: transport.AuthDeps{Users: users, Tokens: tok, Sealer: sealer, DevOutbox: cfg.SMTPURL == "", HookSecret: hookSecret,
			Limits: transport.RateLimits{Disabled: !cfg.RateLimits, Window: cfg.RateLimitWindow, TrustedProxies: proxies}},
		hooks: &hooks.Dispatcher{Tail: hookTail, App: appByID, User: users.LoadUser, Record: cmd.RecordHookDelivery,
			Secret: hookSecret, Checkpoint: filepath.Join(cfg.DataDir, "hooks.checkpoint"), Log: cfg.Log, Now: cfg.Now,
			RetryMin: cfg.HookRetryMin},
		mailer: &mailer.Mailer{Tail: mailTail, Sealer: sealer, Sender: sender, Log: cfg.Log,
			Checkpoint: filepath.Join(cfg.DataDir, "mailer.checkpoint"),
			AppName: func(ctx context.Context, id string) (string, error) {
				app, err := apps.ByID(ctx, id)
				if err != nil {
					return "", err
				}
				return app.Name, nil
			}},
	}
	if cfg.NATSURL != "" {
		// Several nodes share the store: each mail and hook is sent by the
		// node that claims it first.
		node := secret.HexID(6)
		claim := func(kind string) func(context.Context, eventstore.Event) bool {
			return func(ctx context.Context, e eventstore.Event) bool {
				for wait := 100 * time.Millisecond; ; wait = min(wait*2, 5*time.Second) {
					ok, err := cmd.ClaimDelivery(ctx, e.AppID, kind, e.Position, node)
					if err == nil {
						return ok
					}
					cfg.Log.Warn("claiming a delivery failed; retrying", "kind", kind, "position", e.Position, "err", err)
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return false
					}
				}
			}
		}
		parts.mailer.Claim, parts.hooks.Claim = claim("mail"), claim("hook")
	}
	return parts, nil
}

// run starts the mailer and the hook dispatcher; the returned channel
// closes when both have stopped.
func (p *authParts) run(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = p.mailer.Run(ctx) }()
	go func() { defer wg.Done(); _ = p.hooks.Run(ctx) }()
	go func() { wg.Wait(); close(done) }()
	return done
}

// loadMasterKey returns the key that seals signing keys and codes in the
// log: EVENTBASE_MASTER_KEY, or a random key kept in the data directory.
// Nodes sharing a MongoDB store must share the configured key.
func loadMasterKey(cfg Config) ([]byte, error) {
	if cfg.MasterKey != "" {
		k, err := secret.MasterKeyFromString(cfg.MasterKey)
		if err != nil {
			return nil, fmt.Errorf("EVENTBASE_MASTER_KEY: %w", err)
		}
		return k, nil
	}
	p := filepath.Join(cfg.DataDir, "master.key")
	if b, err := os.ReadFile(p); err == nil && len(b) == secret.MasterKeyLen {
		return b, nil
	}
	b := make([]byte, secret.MasterKeyLen)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", p, err)
	}
	return b, nil
}

// parseProxies reads trusted proxy addresses or CIDR prefixes.
func parseProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an address nor a CIDR prefix", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
