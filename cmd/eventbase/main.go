// Command eventbase is the single binary: serve, apps, admin, replay, bench.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventbase/eventbase/bench"
	"github.com/eventbase/eventbase/commands"
	"github.com/eventbase/eventbase/server"
	"github.com/schollz/progressbar/v3"
)

const usage = `eventbase: an event-sourced backend-as-a-service

Usage:
  eventbase serve                              run the backend (EVENTBASE_ADDR, default 127.0.0.1:8090)
  eventbase apps create NAME [--mongodb-uri URI] [--json]
  eventbase admin create EMAIL PASSWORD
  eventbase replay [--app ID]                  rebuild read models from the log and verify them
  eventbase bench create|list|realtime [flags] load tests (eventbase bench -h)
  eventbase healthcheck                        exit 0 if the local server answers /health (containers)

Configuration comes from the environment (see README): EVENTBASE_ADDR,
EVENTBASE_DATA_DIR, EVENTBASE_MONGODB_URI, EVENTBASE_NATS_URL,
EVENTBASE_SMTP_URL, EVENTBASE_PUBLIC_URL, EVENTBASE_RATE_LIMITS,
EVENTBASE_MAX_BODY_BYTES, EVENTBASE_ADMIN_SECRET, EVENTBASE_LOG_REQUESTS,
EVENTBASE_MASTER_KEY, EVENTBASE_TRUSTED_PROXIES, EVENTBASE_MAIL_FROM.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg, err := configFromEnv(log)
	if err != nil {
		fmt.Fprintln(stderr, "eventbase:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "serve":
		err = serve(ctx, cfg, args[1:])
	case "apps":
		err = apps(ctx, cfg, args[1:], stdout)
	case "admin":
		err = admin(ctx, cfg, args[1:], stdout)
	case "replay":
		err = replay(ctx, cfg, args[1:], stdout, stderr)
	case "bench":
		err = runBench(ctx, args[1:], stdout)
	case "healthcheck":
		err = healthcheck(cfg)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "eventbase: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "eventbase: %v\n\n%s", err, usage)
			return 2
		}
		fmt.Fprintln(stderr, "eventbase:", err)
		return 1
	}
	return 0
}

type usageError string

func (u usageError) Error() string { return string(u) }

func configFromEnv(log *slog.Logger) (server.Config, error) {
	cfg := server.Config{
		Addr:        os.Getenv("EVENTBASE_ADDR"),
		DataDir:     os.Getenv("EVENTBASE_DATA_DIR"),
		Sync:        strings.ToLower(os.Getenv("EVENTBASE_SYNC")),
		MongoURI:    os.Getenv("EVENTBASE_MONGODB_URI"),
		MongoDB:     os.Getenv("EVENTBASE_MONGODB_DATABASE"),
		NATSURL:     os.Getenv("EVENTBASE_NATS_URL"),
		SMTPURL:     os.Getenv("EVENTBASE_SMTP_URL"),
		PublicURL:   os.Getenv("EVENTBASE_PUBLIC_URL"),
		AdminSecret: os.Getenv("EVENTBASE_ADMIN_SECRET"),
		MasterKey:   os.Getenv("EVENTBASE_MASTER_KEY"),
		MailFrom:    os.Getenv("EVENTBASE_MAIL_FROM"),
		RateLimits:  !strings.EqualFold(os.Getenv("EVENTBASE_RATE_LIMITS"), "off"),
		LogRequests: os.Getenv("EVENTBASE_LOG_REQUESTS") != "off",
		Log:         log,
	}
	if v := os.Getenv("EVENTBASE_TRUSTED_PROXIES"); v != "" {
		cfg.TrustedProxies = strings.Split(v, ",") // addresses or CIDRs; checked by server.Open
	}
	if v := os.Getenv("EVENTBASE_MAX_BODY_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1024 {
			return cfg, fmt.Errorf("EVENTBASE_MAX_BODY_BYTES must be an integer ≥ 1024, got %q", v)
		}
		cfg.MaxBodyBytes = n
	}
	return cfg, nil
}

func serve(ctx context.Context, cfg server.Config, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", cfg.Addr, "listen address")
	dataDir := fs.String("data-dir", cfg.DataDir, "embedded store directory")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	cfg.Addr, cfg.DataDir = *addr, *dataDir
	octx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	node, err := server.Open(octx, cfg)
	if err != nil {
		return err
	}
	return node.Serve(ctx)
}

func apps(ctx context.Context, cfg server.Config, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError("apps: expected 'apps create NAME'")
	}
	fs := flag.NewFlagSet("apps create", flag.ContinueOnError)
	mongoURI := fs.String("mongodb-uri", "", "the app's own MongoDB")
	asJSON := fs.Bool("json", false, "print JSON")
	name, rest := firstPositional(args[1:])
	if err := fs.Parse(rest); err != nil {
		return usageError(err.Error())
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		return usageError("apps create: NAME is required")
	}
	created, err := server.CreateApp(ctx, cfg, name, *mongoURI)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(created)
	}
	fmt.Fprintf(stdout, "app_id:          %s\npublishable_key: %s\nsecret_key:      %s\n(the secret key is shown once; only its hash is stored)\n",
		created.AppID, created.PublishableKey, created.SecretKey)
	return nil
}

// firstPositional lets NAME come before the flags, as the README shows.
func firstPositional(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

func admin(ctx context.Context, cfg server.Config, args []string, stdout io.Writer) error {
	if len(args) != 3 || args[0] != "create" {
		return usageError("admin: expected 'admin create EMAIL PASSWORD'")
	}
	events, err := server.OpenEvents(ctx, cfg)
	if err != nil {
		return err
	}
	defer events.Close()
	created, err := commands.New(events, nil).CreateAdmin(ctx, commands.Meta{Actor: "cli"}, args[1], args[2])
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintln(stdout, "admin created")
	} else {
		fmt.Fprintln(stdout, "admin password reset")
	}
	return nil
}

func replay(ctx context.Context, cfg server.Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	appID := fs.String("app", "", "rebuild only this app's read models")
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	// One bar a store, made once its size is known (a bar is never
	// resized: the library renders from a goroutine of its own).
	var bar *progressbar.ProgressBar
	newBar := func(max int64) {
		if bar != nil {
			_ = bar.Finish()
		}
		bar = progressbar.NewOptions64(max, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("replaying"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
	}
	results, err := server.Replay(ctx, cfg, *appID, newBar, func(n int64) {
		if bar == nil {
			newBar(-1)
		}
		_ = bar.Add64(n)
	})
	if bar != nil {
		_ = bar.Finish()
	}
	for _, res := range results {
		if res == nil {
			continue
		}
		fmt.Fprintf(stdout, "replayed %d events in %.2fs (%.0f events/s) into %d namespaces\n", res.Events, res.Seconds, res.EventsPerS, res.Namespaces)
		if res.Verified {
			fmt.Fprintln(stdout, "verified: rebuilt read models equal the previous ones")
		}
	}
	return err
}

func runBench(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError("bench: expected create, list or realtime")
	}
	fs := flag.NewFlagSet("bench "+args[0], flag.ContinueOnError)
	url := fs.String("url", "", "server to load (default: start one as a child process on a temporary data dir)")
	appID := fs.String("app", "", "app id (with --url)")
	sk := fs.String("sk", "", "secret key (with --url)")
	pk := fs.String("pk", "", "publishable key (with --url)")
	clients := fs.Int("clients", 32, "create: concurrent clients")
	total := fs.Int("n", 20000, "create: documents to create")
	docs := fs.Int("docs", 10000, "list: documents to seed")
	queries := fs.Int("queries", 2000, "list: queries to run")
	subs := fs.Int("subscribers", 1000, "realtime: WebSocket subscribers")
	colls := fs.Int("collections", 100, "realtime: collections the subscribers are spread over")
	rate := fs.Int("rate", 100, "realtime: writes per second")
	dur := fs.Duration("duration", 20*time.Second, "upper bound on the run (realtime: how long to write)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError(err.Error())
	}
	t := bench.Target{URL: strings.TrimRight(*url, "/"), AppID: *appID, SecretKey: *sk, PubKey: *pk}
	if t.URL == "" {
		spawned, stop, err := bench.Spawn(ctx)
		if err != nil {
			return err
		}
		defer stop()
		t = spawned
	}
	switch args[0] {
	case "create":
		res, err := bench.Creates(ctx, t, *clients, *total, *dur)
		fmt.Fprintln(stdout, res)
		return err
	case "list":
		res, err := bench.Lists(ctx, t, *docs, *queries)
		fmt.Fprintln(stdout, res)
		return err
	case "realtime":
		res, err := bench.Realtime(ctx, t, bench.RealtimeConfig{Subscribers: *subs, Collections: *colls, Rate: *rate, Duration: *dur})
		fmt.Fprintln(stdout, res)
		return err
	}
	return usageError("bench: expected create, list or realtime")
}

// healthcheck asks the server at EVENTBASE_ADDR for /health, for container
// health checks in images without curl.
func healthcheck(cfg server.Config) error {
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:8090"
	}
	if strings.HasPrefix(addr, "0.0.0.0:") || strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1:" + addr[strings.LastIndexByte(addr, ':')+1:]
	}
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + addr + "/health")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s", resp.Status)
	}
	return nil
}
