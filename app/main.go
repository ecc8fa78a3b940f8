package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/conversion"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/httpapi"
	"github.com/mp3converter/mp3converter/internal/cmdflag"
	"github.com/mp3converter/mp3converter/internal/metrics"
	"github.com/mp3converter/mp3converter/jobfeed"
	"github.com/mp3converter/mp3converter/notification"
	"github.com/mp3converter/mp3converter/retention"
	"github.com/mp3converter/mp3converter/smtp"
)

// Main is one process: its roles on its engines. Run starts it; Close stops
// it gracefully. A test starts the whole program with Run on port 0.
type Main struct {
	Process Process
	Config  Config
	Logger  *slog.Logger
	Stdout  io.Writer // where a generated admin password is printed
	// WrapJobs, if set, wraps the job store every role uses, to observe or
	// instrument it (tests count the queries of live updates with it).
	WrapJobs func(mp3converter.JobStore) mp3converter.JobStore
	// WebhookBackoff and WebhookPoll, if set, replace the webhook
	// dispatcher's retry schedule and poll interval (webhook.DefaultBackoff
	// and 1 s), so that tests need not wait hours.
	WebhookBackoff []time.Duration
	WebhookPoll    time.Duration

	// Set by Run.
	Addr    string           // where the HTTP server listens
	Engines *Engines         // what the roles run on
	Metrics *metrics.Metrics // what /metrics shows
	// MetricsAddr is where /metrics listens when --metrics-addr gives it
	// a listener of its own.
	MetricsAddr string

	server   *http.Server
	clients  *httpapi.ClientLimit // what each client may hold open, on every listener
	feed     *jobfeed.Feed        // the gateway's job changes, for live updates
	gateway  *httpapi.Gateway     // the gateway role's routes, whose uploads are swept
	draining atomic.Bool
	cancel   context.CancelFunc
	workers  sync.WaitGroup
	closers  []func()
}

// Run opens the engines, starts the roles and the HTTP server, and returns.
// On error the caller still calls Close.
func (m *Main) Run(ctx context.Context) error {
	c, p, log := &m.Config, m.Process, m.Logger
	var tc *ffmpeg.Transcoder
	if p.Roles.Has(Converter) {
		tc = &ffmpeg.Transcoder{FFmpeg: c.FFmpeg, FFprobe: c.FFprobe, ParallelAbove: c.ParallelAbove}
		if err := tc.Check(ctx); err != nil {
			return err
		}
	}
	e, err := openEngines(ctx, p, c, log)
	if err != nil {
		return err
	}
	m.Engines = e
	m.closers = append(m.closers, e.Close)
	if p.Roles.Has(Gateway) {
		m.feed = &jobfeed.Feed{Interval: c.EventsPollInterval, Logger: log.With("role", "gateway")}
		// This process's own writes (serve's converter's among them) reach
		// the event streams at once; others' at the feed's next poll.
		if s, ok := e.Jobs.(interface{ OnChange(func(*mp3converter.Job)) }); ok {
			s.OnChange(m.feed.Changed)
		}
	}
	m.newMetrics() // before WrapJobs, which would hide the job store's counts
	if m.WrapJobs != nil {
		e.Jobs = m.WrapJobs(e.Jobs)
	}
	if m.feed != nil {
		m.feed.Jobs = e.Jobs
	}
	if err := m.recover(ctx); err != nil {
		return err
	}
	var tokens *auth.Service
	if p.serves() {
		secret, err := jwtSecret(c.JWTSecret, p, c.DataDir)
		if err != nil {
			return err
		}
		tokens = &auth.Service{Users: e.Users, Secret: secret, TTL: c.TokenTTL, Logger: log}
	}
	ln, err := m.listen()
	if err != nil {
		return err
	}
	if p.Roles.Has(Auth) && p.Shape == Standalone {
		if err := firstAdmin(ctx, tokens, e.Users, c, m.Stdout, log); err != nil {
			ln.Close()
			return err
		}
	}
	workCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	if err := m.startWorkers(workCtx, tc); err != nil {
		ln.Close()
		return err
	}
	m.server = httpapi.NewServer(m.clients.Handler(m.withMetrics(m.handler(tokens))), m.serverLimits())
	if gw := m.gateway; gw != nil {
		m.start(func() { gw.RunUploadSweeper(workCtx, httpapi.UploadSweepInterval(c.UploadExpiry)) })
	}
	if m.feed != nil {
		// Event streams never go idle: Shutdown would wait out its grace.
		m.server.RegisterOnShutdown(m.feed.Close)
	}
	go func() {
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTPServerFailed", "err", err)
		}
	}()
	log.Info("Serving", "process", p.Name, "roles", p.Roles.String(), "addr", m.Addr)
	return nil
}

// listen opens the process's HTTP listener, --addr or, for a process
// without an API, --health-addr, and, with --metrics-addr, its metrics
// listener. It defaults the public URL to the gateway's address.
func (m *Main) listen() (net.Listener, error) {
	c, p := &m.Config, m.Process
	addr := c.Addr
	if !p.serves() {
		addr = c.HealthAddr
	}
	ln, err := m.listenTCP(addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	m.Addr = ln.Addr().String()
	if c.PublicURL == "" {
		c.PublicURL = "http://localhost:8080"
		if p.Roles.Has(Gateway) {
			c.PublicURL = "http://" + localAddr(m.Addr)
		}
	}
	if err := m.listenMetrics(); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// listenTCP listens on addr, with the caps on what each client may hold
// open: every listener of the process shares them.
func (m *Main) listenTCP(addr string) (net.Listener, error) {
	if m.clients == nil {
		c := &m.Config
		proxies, _ := httpapi.ParseProxies(c.Proxies) // checked by Validate
		total := c.MaxConns
		if total == 0 {
			total = descriptorLimit() * 3 / 4
		}
		m.clients = &httpapi.ClientLimit{PerClient: c.MaxConnsPerClient, Total: total, Proxies: proxies, Logger: m.Logger}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return m.clients.Listen(ln), nil
}

// descriptorLimit is the process's open-file limit (Go raises the soft
// limit to the hard one at start), or 1024 if it cannot be read.
func descriptorLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur == 0 {
		return 1024
	}
	return int(min(r.Cur, 1<<20))
}

func (m *Main) serverLimits() httpapi.ServerLimits {
	return httpapi.ServerLimits{BodyTimeout: m.Config.BodyTimeout, Logger: m.Logger}
}

// recover picks up after a process that died holding work on an embedded
// store: its messages are redelivered now, and its jobs show as queued
// until they are.
func (m *Main) recover(ctx context.Context) error {
	if m.Engines.recover == nil {
		return nil
	}
	n, err := m.Engines.recover(ctx)
	if err != nil {
		return err
	}
	stuck, err := mp3converter.RequeueProcessing(ctx, m.Engines.Jobs)
	if err != nil {
		return err
	}
	if n > 0 || stuck > 0 {
		m.Logger.Info("Recovered", "messages", n, "jobs", stuck)
	}
	return nil
}

// handler is the process's HTTP API: the gateway's, else the auth
// service's, else health checks only.
func (m *Main) handler(tokens *auth.Service) http.Handler {
	c, e, log := &m.Config, m.Engines, m.Logger
	checks := append([]httpapi.Check{{Name: "shutdown", Check: m.ready}}, e.checks...)
	proxies, _ := httpapi.ParseProxies(c.Proxies) // checked by Validate
	var devices *httpapi.Devices
	if tokens != nil {
		devices = &httpapi.Devices{Key: httpapi.DeviceKey(tokens.Secret)}
	}
	switch {
	case m.Process.Roles.Has(Gateway):
		var login httpapi.Authenticator = tokens
		if !m.Process.Roles.Has(Auth) {
			login = &httpapi.AuthClient{Addr: c.AuthAddr}
		}
		// Tokens are checked, and revoked at logout, in the user store
		// itself, with or without the auth role.
		gw := &httpapi.Gateway{
			Auth: login, Tokens: tokens, Revoker: tokens, Jobs: e.Jobs, Videos: e.Videos, MP3s: e.MP3s, Queue: e.Queue,
			VideoQueue: c.VideoQueue, MaxUpload: int64(c.MaxUpload), Checks: checks, Logger: log.With("role", "gateway"),
			Throttle: httpapi.NewThrottle("gateway", e.Limits), Devices: devices, Proxies: proxies, Space: e.space, Webhooks: m.webhookRoutes(),
			MinUploadRate: int64(c.MinUploadRate), UploadGrace: c.UploadGrace,
			Uploads: httpapi.NewUploadLimit(c.MaxUploadsPerUser, c.MaxUploads, e.Limits),
			Feed:    m.feed, Heartbeat: c.EventsHeartbeat, Metrics: m.Metrics,
			Streams:      httpapi.NewStreamLimit(c.MaxEventStreamsPerUser, c.MaxEventStreams, e.Limits),
			MaxJobsKept:  c.MaxJobsKept,
			ResumableDir: e.uploads, UploadExpiry: c.UploadExpiry, MaxUnfinished: c.MaxUnfinished,
		}
		m.gateway = gw
		return gw.Handler()
	case m.Process.Roles.Has(Auth):
		return (&httpapi.AuthServer{Service: tokens, Throttle: httpapi.NewThrottle("auth", e.Limits), Devices: devices, Proxies: proxies, Checks: checks, Logger: log.With("role", "auth"),
			Metrics: m.Metrics}).Handler()
	}
	return httpapi.HealthHandler(checks, log)
}

// startWorkers starts the background work of the process's roles.
func (m *Main) startWorkers(ctx context.Context, tc *ffmpeg.Transcoder) error {
	c, e, roles := &m.Config, m.Engines, m.Process.Roles
	for _, run := range e.background {
		m.start(func() { run(ctx) })
	}
	if roles.Has(Gateway) {
		s := &retention.Sweeper{Jobs: e.Jobs, Videos: e.Videos, MP3s: e.MP3s, Retention: c.Retention, Logger: m.Logger.With("role", "retention")}
		m.start(func() { s.Run(ctx, retention.Interval(c.Retention)) })
		m.start(func() { m.feed.Run(ctx) }) // one poller, however many streams
	}
	if roles.Has(Converter) {
		scratch, err := e.scratch()
		if err != nil {
			return err
		}
		m.closers = append(m.closers, func() { os.RemoveAll(scratch) })
		w := &conversion.Worker{
			Videos: e.Videos, MP3s: e.MP3s, Jobs: e.Jobs, Queue: e.Queue, Transcoder: tc,
			VideoQueue: c.VideoQueue, MP3Queue: c.MP3Queue, TempDir: scratch,
			MaxDuration: c.MaxDuration, MaxPerUser: c.MaxPerUser, Batch: c.Batch, KeepVideos: c.KeepVideos, Grace: c.ShutdownGrace,
			Policy: policy(c), Logger: m.Logger.With("role", "converter"), Events: m.jobEvents(), Metrics: m.Metrics,
		}
		m.start(func() { w.Run(ctx, c.Workers) })
	}
	if roles.Has(Notification) {
		n, err := newNotifier(c, m.Logger)
		if err != nil {
			return err
		}
		w := &notification.Worker{
			Queue: e.Queue, MP3Queue: c.MP3Queue, Notifier: n, Jobs: e.Jobs, MP3s: e.MP3s,
			PublicURL: c.PublicURL, Logger: m.Logger.With("role", "notification"), Events: m.jobEvents(), Metrics: m.Metrics,
		}
		m.start(func() { w.Run(ctx, 2) })
		m.startDispatcher(ctx)
	}
	return nil
}

func (m *Main) start(f func()) {
	m.workers.Add(1)
	go func() { defer m.workers.Done(); f() }()
}

// ready fails readiness while a stopping server still serves, so that load
// balancers stop sending it requests before it stops listening.
func (m *Main) ready(context.Context) error {
	if m.draining.Load() {
		return errors.New("shutting down")
	}
	return nil
}

// Close stops taking requests and work, lets work in flight finish within
// the grace period, and closes the engines.
func (m *Main) Close() error {
	if m.server != nil {
		if d := m.Config.DrainDelay; d > 0 {
			m.draining.Store(true)
			m.Logger.Info("Draining", "delay", d)
			time.Sleep(d)
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownGrace)
		m.server.Shutdown(ctx)
		cancel()
	}
	if m.cancel != nil {
		m.cancel()
		m.workers.Wait()
	}
	for i := len(m.closers) - 1; i >= 0; i-- {
		m.closers[i]()
	}
	m.closers = nil
	return nil
}

// newNotifier sends notices over SMTP when a server is set, else to the log.
func newNotifier(c *Config, log *slog.Logger) (mp3converter.Notifier, error) {
	if c.SMTPURL == "" {
		return notification.LogNotifier{Logger: log}, nil
	}
	n, err := smtp.New(c.SMTPURL, c.MailFrom, 30*time.Second)
	if err != nil {
		return nil, cmdflag.Usagef("bad setting: MP3CONVERTER_SMTP_URL: %w", err)
	}
	return n, nil
}

// localAddr turns a listen address into one a local user can open.
func localAddr(addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
