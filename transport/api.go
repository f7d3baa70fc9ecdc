package transport

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/eventbase/eventbase/commands"
	"github.com/eventbase/eventbase/eventstore"
	"github.com/eventbase/eventbase/projections"
	"github.com/eventbase/eventbase/readstore"
	"github.com/eventbase/eventbase/realtime"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config holds the HTTP-level settings, filled by cmd from flags and environment.
type Config struct {
	MaxBodyBytes int64 // JSON bodies; default 1 MiB
	LogRequests  bool
	// AdminSecret signs dashboard admin tokens (HMAC); at least 32 bytes.
	AdminSecret []byte
}

// API serves every HTTP route of one node.
type API struct {
	cfg     Config
	log     *slog.Logger
	cmd     *commands.Service
	events  eventstore.Store
	reads   readstore.Store
	rebuild func(ctx context.Context, appID string) (*projections.RebuildResult, error)
	apps    *projections.Apps
	docs    projections.Documents
	tokens  TokenVerifier
	auth    AuthDeps
	limits  *limiter
	hub     *realtime.Hub
	metrics *metrics
	reg     *prometheus.Registry
	router  *mux.Router
	ready   func() bool
}

// Deps are the collaborators an API needs.
type Deps struct {
	Commands *commands.Service
	Events   eventstore.Store
	Reads    readstore.Store
	// Rebuild rebuilds one app's read models (admin replay).
	Rebuild func(ctx context.Context, appID string) (*projections.RebuildResult, error)
	Apps    *projections.Apps
	Log     *slog.Logger
	// Tokens verifies end-user access tokens; nil accepts none.
	Tokens TokenVerifier
	// Auth serves the end-user auth routes (/auth/{app_id}/..., /api/userAuth/...);
	// zero disables them.
	Auth AuthDeps
	// Hub serves realtime subscriptions; nil disables the routes.
	Hub *realtime.Hub
	// Ready reports whether the node can take writes (for /health).
	Ready func() bool
}

// New builds the API and its routes.
func New(cfg Config, d Deps) *API {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Ready == nil {
		d.Ready = func() bool { return true }
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	a := &API{cfg: cfg, log: d.Log, cmd: d.Commands, events: d.Events, reads: d.Reads, rebuild: d.Rebuild, apps: d.Apps,
		docs: projections.Documents{Reads: d.Reads}, tokens: d.Tokens, hub: d.Hub, metrics: newMetrics(reg), reg: reg, ready: d.Ready}
	a.auth, a.limits = d.Auth, newLimiter(d.Auth.Limits)
	a.routes()
	return a
}

// RealtimeAuth returns the authenticator the realtime hub uses: the same
// key and token rules as HTTP.
func (a *API) RealtimeAuth() realtime.Authenticator { return realtimeAuth{a} }

// Registry returns the Prometheus registry, for other packages' metrics.
func (a *API) Registry() *prometheus.Registry { return a.reg }

// Handler returns the root handler.
func (a *API) Handler() http.Handler { return withRequestID(a.router) }

func (a *API) routes() {
	r := mux.NewRouter()
	r.Use(a.observe)
	r.NotFoundHandler = a.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeError(w, r, errNotFound) }))
	r.MethodNotAllowedHandler = a.observe(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeError(w, r, errMethod) }))

	r.HandleFunc("/health", a.health).Methods(http.MethodGet)
	r.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{})).Methods(http.MethodGet)

	a.authRoutes(r) // before /admin/v1 and /v1/{app_id}, whose subrouters would take its paths
	adm := r.PathPrefix("/admin/v1").Subrouter()
	adm.HandleFunc("/login", a.adminLogin).Methods(http.MethodPost)
	adm.HandleFunc("/apps", a.requireAdmin(a.adminListApps)).Methods(http.MethodGet)
	adm.HandleFunc("/apps", a.requireAdmin(a.adminCreateApp)).Methods(http.MethodPost)
	adm.HandleFunc("/apps/{app_id}", a.requireAdmin(a.adminGetApp)).Methods(http.MethodGet)
	adm.HandleFunc("/apps/{app_id}/rotate-keys", a.requireAdmin(a.adminRotateKeys)).Methods(http.MethodPost)
	adm.HandleFunc("/apps/{app_id}/replay", a.requireAdmin(a.adminReplay)).Methods(http.MethodPost)

	v1 := r.PathPrefix("/v1/{app_id}").Subrouter()
	v1.HandleFunc("/audit", a.native(a.privileged(a.audit))).Methods(http.MethodGet)
	v1.HandleFunc("/config/access-mode", a.native(a.privileged(a.setAccessMode))).Methods(http.MethodPatch)
	v1.HandleFunc("/config/jwt", a.native(a.privileged(a.setJWTConfig))).Methods(http.MethodPatch)
	v1.HandleFunc("/config/collections", a.native(a.privileged(a.listCollections))).Methods(http.MethodGet)
	v1.HandleFunc("/config/collections/{name}", a.native(a.privileged(a.defineCollection))).Methods(http.MethodPut)
	v1.HandleFunc("/secure", a.native(a.privileged(a.secure))).Methods(http.MethodPost)
	if a.hub != nil {
		v1.HandleFunc("/realtime", a.realtimeNative).Methods(http.MethodGet)
		r.HandleFunc("/api/realtime", a.realtimeUrBackend).Methods(http.MethodGet)
	}
	a.dataRoutes(v1, a.native)
	a.dataRoutes(r.PathPrefix("/api/data").Subrouter(), a.urBackend)

	a.router = r
}

func (a *API) health(w http.ResponseWriter, r *http.Request) {
	if !a.ready() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
}
