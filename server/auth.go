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

// authParts are the end-user auth pieces a node shares across its cells:
// the token service, route dependencies, and what the mail and hook
// workers of each cell need.
type authParts struct {
	cfg        Config
	cmd        *commands.Service
	tokens     *tokens.Service
	sealer     *secret.Sealer
	deps       transport.AuthDeps
	sender     mailer.Sender
	users      *commands.Auth
	appByID    func(ctx context.Context, id string) (*domain.App, error)
	hookSecret func(appID string) string
	node       string // names this node in delivery claims
}

func openAuth(cfg Config, cmd *commands.Service, apps *projections.Apps) (*authParts, error) {
	sealer, err := loadSealer(cfg)
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
	var sender mailer.Sender = mailer.LogSender{Log: cfg.Log}
	if cfg.SMTPURL != "" {
		if sender, err = mailer.NewSMTP(cfg.SMTPURL, cfg.MailFrom); err != nil {
			return nil, err
		}
	}
	users := commands.NewAuth(cmd, sealer)
	hookSecret := func(appID string) string { return "whsec_" + sealer.MAC("post-auth-hook", appID) }
	return &authParts{
		cfg: cfg, cmd: cmd, tokens: tok, sealer: sealer, sender: sender, users: users, hookSecret: hookSecret, node: secret.HexID(6),
		appByID: func(ctx context.Context, id string) (*domain.App, error) { return apps.ByID(ctx, id) },
		deps: transport.AuthDeps{Users: users, Tokens: tok, Sealer: sealer, DevOutbox: cfg.SMTPURL == "", HookSecret: hookSecret,
			Limits: transport.RateLimits{Disabled: !cfg.RateLimits, Window: cfg.RateLimitWindow, TrustedProxies: proxies}},
	}, nil
}

// workers are the mailer and hook dispatcher of one cell: they ride on its
// runner's batches and keep their checkpoints (positions in that cell's
// log) in files named with suffix.
type workers struct {
	mailer *mailer.Mailer
	hooks  *hooks.Dispatcher
}

func (p *authParts) workers(c *cell, suffix string) *workers {
	cfg := p.cfg
	// Registered before the runner applies anything past its position.
	mailTail := tail.New(c.events, mailer.CodeTypes, c.runner.Position())
	hookTail := tail.New(c.events, hooks.SignInTypes, c.runner.Position())
	c.runner.OnApplied(mailTail.Push)
	c.runner.OnApplied(hookTail.Push)
	c.runner.OnApplied(p.tokens.Invalidate)
	w := &workers{
		hooks: &hooks.Dispatcher{Tail: hookTail, App: p.appByID, User: p.users.LoadUser, Record: p.cmd.RecordHookDelivery,
			Secret: p.hookSecret, Checkpoint: filepath.Join(cfg.DataDir, "hooks"+suffix+".checkpoint"), Log: cfg.Log, Now: cfg.Now,
			RetryMin: cfg.HookRetryMin},
		mailer: &mailer.Mailer{Tail: mailTail, Sealer: p.sealer, Sender: p.sender, Log: cfg.Log,
			Checkpoint: filepath.Join(cfg.DataDir, "mailer"+suffix+".checkpoint"),
			AppName: func(ctx context.Context, id string) (string, error) {
				app, err := p.appByID(ctx, id)
				if err != nil {
					return "", err
				}
				return app.Name, nil
			}},
	}
	if cfg.NATSURL != "" {
		// Several nodes share the store: each mail and hook is sent by the
		// node that claims it first.
		w.mailer.Claim, w.hooks.Claim = p.claim("mail"), p.claim("hook")
	}
	return w
}

func (p *authParts) claim(kind string) func(context.Context, eventstore.Event) bool {
	return func(ctx context.Context, e eventstore.Event) bool {
		for wait := 100 * time.Millisecond; ; wait = min(wait*2, 5*time.Second) {
			ok, err := p.cmd.ClaimDelivery(ctx, e.AppID, kind, e.Position, p.node)
			if err == nil {
				return ok
			}
			p.cfg.Log.Warn("claiming a delivery failed; retrying", "kind", kind, "position", e.Position, "err", err)
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return false
			}
		}
	}
}

// run starts the mailer and the hook dispatcher; the returned channel
// closes when both have stopped.
func (w *workers) run(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = w.mailer.Run(ctx) }()
	go func() { defer wg.Done(); _ = w.hooks.Run(ctx) }()
	go func() { wg.Wait(); close(done) }()
	return done
}

// loadSealer returns the sealer of the node's master key.
func loadSealer(cfg Config) (*secret.Sealer, error) {
	key, err := loadMasterKey(cfg)
	if err != nil {
		return nil, err
	}
	return secret.NewSealer(key)
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
