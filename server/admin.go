package server

import (
	"context"
	"fmt"
	"time"

	"github.com/eventbase/eventbase/commands"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/projections"
)

// CreateApp creates an app from the command line, beside a running node or
// not. With mongoURI the app brings its own MongoDB: it must be reachable
// now; the URI enters the log only sealed under the master key.
func CreateApp(ctx context.Context, cfg Config, name, mongoURI string) (*commands.CreatedApp, error) {
	cfg.defaults()
	sealed := ""
	if mongoURI != "" {
		octx, cancel := context.WithTimeout(ctx, 15*time.Second)
		c, err := openAppCell(octx, mongoURI)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("--mongodb-uri: %w", err)
		}
		c.close()
		sealer, err := loadSealer(cfg)
		if err != nil {
			return nil, err
		}
		sealed = sealer.Seal([]byte(mongoURI), uriSealContext)
	}
	events, err := OpenEvents(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer events.Close()
	return commands.New(events, nil).CreateApp(ctx, commands.Meta{Actor: "cli"}, name, sealed)
}

// Replay rebuilds read models from the logs with the node stopped: every
// cell (the node's store and each app's own MongoDB), or only appID's read
// models. total is told, when a store can say, how many positions its log
// holds; progress how many events each step applied.
func Replay(ctx context.Context, cfg Config, appID string, total func(int64), progress func(int64)) ([]*projections.RebuildResult, error) {
	cfg.defaults()
	st, err := OpenStores(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	runner, apps := Projections(st, cfg.Log)
	if _, err := runner.CatchUp(ctx, nil); err != nil {
		return nil, err
	}
	sealer, err := loadSealer(cfg)
	if err != nil {
		return nil, err
	}
	def := &cell{events: st.Events, reads: st.Reads, runner: runner}
	cs := newCells(cfg, def, apps, sealer)
	cs.setup, cs.passive = func(*cell, string) {}, true
	defer cs.close()
	rebuild := func(c *cell, app string) (*projections.RebuildResult, error) {
		if app != "" {
			return projections.RebuildApp(ctx, c.events, c.reads, c.runner, app)
		}
		if h, ok := c.events.(eventstore.Header); ok && total != nil {
			if n, err := h.Head(ctx); err == nil {
				total(n)
			}
		}
		return projections.Rebuild(ctx, c.reads, c.runner, progress)
	}
	if appID != "" {
		c, err := cs.forApp(ctx, appID)
		if err != nil {
			return nil, err
		}
		res, err := rebuild(c, appID)
		return []*projections.RebuildResult{res}, err
	}
	var out []*projections.RebuildResult
	res, err := rebuild(def, "")
	out = append(out, res)
	if err != nil {
		return out, err
	}
	all, err := apps.List(ctx)
	if err != nil {
		return out, err
	}
	for _, app := range all {
		if app.MongoURISealed == "" {
			continue
		}
		c, err := cs.forApp(ctx, app.ID)
		if err != nil {
			return out, err
		}
		res, err := rebuild(c, "")
		out = append(out, res)
		if err != nil {
			return out, fmt.Errorf("app %s: %w", app.ID, err)
		}
	}
	return out, nil
}
