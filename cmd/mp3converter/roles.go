package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/conversion"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/gridfs"
	"github.com/mp3converter/mp3converter/httpapi"
	"github.com/mp3converter/mp3converter/mysql"
	"github.com/mp3converter/mp3converter/notification"
	"github.com/mp3converter/mp3converter/rabbitmq"
	"github.com/mp3converter/mp3converter/retention"
	"github.com/mp3converter/mp3converter/smtp"
)

// RoleConfig configures one role running as its own process on the real
// engines: MySQL, RabbitMQ and MongoDB GridFS.
type RoleConfig struct {
	Addr          string // gateway and auth
	HealthAddr    string // converter and notification
	DatabaseURL   string
	QueueURL      string
	StorageURL    string
	SMTPURL       string
	MailFrom      string
	JWTSecret     string
	AuthAddr      string
	VideoQueue    string
	MP3Queue      string
	PublicURL     string
	Workers       int
	TempDir       string
	MaxUpload     int64
	MaxDuration   time.Duration
	KeepVideos    bool
	Retention     time.Duration
	Proxies       string
	MaxAttempts   int
	TokenTTL      time.Duration
	ShutdownGrace time.Duration
	DrainDelay    time.Duration
	LogFormat     string
	LogLevel      string
	FFmpeg        string
	FFprobe       string
}

// roles and the settings each one takes.
var roles = map[string]struct {
	summary  string
	defaults RoleConfig
}{
	"auth":         {"users and tokens: POST /login, POST /validate", RoleConfig{Addr: ":5000", ShutdownGrace: 10 * time.Second}},
	"gateway":      {"the public HTTP API: login, upload, download, jobs", RoleConfig{Addr: ":8080", AuthAddr: "auth:5000", ShutdownGrace: 25 * time.Second}},
	"converter":    {"ffmpeg workers taking jobs off the video queue", RoleConfig{HealthAddr: ":8081", ShutdownGrace: 5 * time.Minute}},
	"notification": {"mails users when their MP3 is ready", RoleConfig{HealthAddr: ":8081", ShutdownGrace: 25 * time.Second}},
}

func (c *RoleConfig) register(role string, s *settings) {
	d := roles[role].defaults
	uses := func(rs ...string) bool { return contains(rs, role) }
	if uses("auth", "gateway") {
		s.String(&c.Addr, "addr", d.Addr, "HTTP listen address", "MP3CONVERTER_ADDR")
		s.String(&c.Proxies, "trusted-proxies", "127.0.0.1/8,::1", "proxies whose X-Forwarded-For names the client (the ingress; for auth, the gateways), comma-separated CIDRs", "MP3CONVERTER_TRUSTED_PROXIES")
		s.Secret(&c.JWTSecret, "jwt-secret", "JWT signing secret, 16 characters or more, the same for auth and gateway", "JWT_SECRET")
	}
	if uses("converter", "notification") {
		s.String(&c.HealthAddr, "health-addr", d.HealthAddr, "listen address of /healthz and /readyz", "MP3CONVERTER_HEALTH_ADDR")
	}
	s.Secret(&c.DatabaseURL, "database-url", "MySQL, mysql://user:pass@host:3306/auth (or the seed's MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, MYSQL_DB)", "MP3CONVERTER_DATABASE_URL")
	if uses("gateway", "converter", "notification") {
		s.Secret(&c.QueueURL, "queue-url", "RabbitMQ, amqp://user:pass@host:5672/", "MP3CONVERTER_QUEUE_URL")
		s.Int(&c.MaxAttempts, "max-attempts", mp3converter.DefaultRetryPolicy.MaxAttempts, "deliveries of a message before it is dead-lettered", "MP3CONVERTER_MAX_ATTEMPTS")
	}
	if uses("gateway", "converter") {
		s.Secret(&c.StorageURL, "storage-url", "MongoDB holding the GridFS databases videos and mp3s, mongodb://host:27017", "MP3CONVERTER_STORAGE_URL")
		s.String(&c.VideoQueue, "video-queue", mp3converter.DefaultVideoQueue, "queue of videos to convert", "VIDEO_QUEUE")
	}
	if uses("converter", "notification") {
		s.String(&c.MP3Queue, "mp3-queue", mp3converter.DefaultMP3Queue, "queue of finished MP3s", "MP3_QUEUE")
	}
	switch role {
	case "auth":
		s.Duration(&c.TokenTTL, "token-ttl", 24*time.Hour, "lifetime of a login token", "MP3CONVERTER_TOKEN_TTL")
	case "gateway":
		s.String(&c.AuthAddr, "auth-address", d.AuthAddr, "the auth service, host:port", "AUTH_SVC_ADDRESS")
		s.Bytes(&c.MaxUpload, "max-upload", 2<<30, "largest file accepted", "MP3CONVERTER_MAX_UPLOAD")
		s.Duration(&c.Retention, "retention", 30*24*time.Hour, "jobs and their files are deleted this long after their last change; 0 keeps them", "MP3CONVERTER_RETENTION")
	case "converter":
		s.Int(&c.Workers, "workers", runtime.NumCPU(), "conversions run in parallel", "MP3CONVERTER_WORKERS")
		s.String(&c.TempDir, "temp-dir", os.TempDir(), "where media is written while converting", "MP3CONVERTER_TEMP_DIR")
		s.Duration(&c.MaxDuration, "max-duration", 4*time.Hour, "longest media converted; 0 for no limit", "MP3CONVERTER_MAX_DURATION")
		s.Bool(&c.KeepVideos, "keep-videos", false, "keep source videos after conversion", "MP3CONVERTER_KEEP_VIDEOS")
		s.String(&c.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary", "MP3CONVERTER_FFMPEG")
		s.String(&c.FFprobe, "ffprobe", "ffprobe", "ffprobe binary", "MP3CONVERTER_FFPROBE")
	case "notification":
		s.Secret(&c.SMTPURL, "smtp-url", "SMTP server, smtp://user:pass@host:587 (default: notices go to the log)", "MP3CONVERTER_SMTP_URL")
		s.String(&c.MailFrom, "mail-from", "mp3converter@localhost", "sender address of notices", "MP3CONVERTER_MAIL_FROM")
		s.String(&c.PublicURL, "public-url", "http://localhost:8080", "the gateway's address as users reach it, for links in mail", "MP3CONVERTER_PUBLIC_URL")
	}
	s.Duration(&c.ShutdownGrace, "shutdown-grace", d.ShutdownGrace, "time in-flight work gets to finish on SIGTERM", "MP3CONVERTER_SHUTDOWN_GRACE")
	s.Duration(&c.DrainDelay, "drain-delay", 0, "on SIGTERM, fail /readyz but keep serving this long first, so a load balancer stops sending requests", "MP3CONVERTER_DRAIN_DELAY")
	s.String(&c.LogFormat, "log-format", "text", "text or json", "MP3CONVERTER_LOG_FORMAT")
	s.String(&c.LogLevel, "log-level", "info", "debug, info, warn or error", "MP3CONVERTER_LOG_LEVEL")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// seedDatabaseURL builds the database URL from the seed's MYSQL_* variables.
func seedDatabaseURL() string {
	if os.Getenv("MYSQL_HOST") == "" {
		return ""
	}
	db := os.Getenv("MYSQL_DB")
	if db == "" {
		db = "auth"
	}
	return mysql.URLFromSeedEnv(os.Getenv("MYSQL_HOST"), os.Getenv("MYSQL_PORT"), os.Getenv("MYSQL_USER"), os.Getenv("MYSQL_PASSWORD"), db)
}

// placeholderSecrets are JWT secrets that must never sign tokens.
var placeholderSecrets = []string{"change-me", "changeme", "change_me", "secret", "jwt_secret", "jwt-secret", "jwtsecret",
	"sarcasm", "password", "default", "your-secret", "your_secret", "mysecret", "supersecret", "replace-me", "todo"}

// checkJWTSecret refuses empty, short and placeholder secrets.
func checkJWTSecret(s string) error {
	switch {
	case s == "":
		return errors.New("JWT_SECRET is not set: give the same long random secret to auth and gateway")
	case len(s) < auth.MinSecretLength:
		return fmt.Errorf("JWT_SECRET: too short (%d characters, want %d or more)", len(s), auth.MinSecretLength)
	}
	norm := strings.ToLower(strings.TrimSpace(s))
	for _, p := range placeholderSecrets {
		if strings.Contains(norm, p) && len(norm) < len(p)+12 {
			return errors.New("JWT_SECRET: looks like a placeholder; use a long random value")
		}
	}
	return nil
}

func (c *RoleConfig) validate(role string) error {
	var bad []string
	need := func(ok bool, msg string) {
		if !ok {
			bad = append(bad, msg)
		}
	}
	uses := func(rs ...string) bool { return contains(rs, role) }
	if c.DatabaseURL == "" {
		c.DatabaseURL = seedDatabaseURL()
	}
	need(c.DatabaseURL != "", "MP3CONVERTER_DATABASE_URL is not set (nor MYSQL_HOST)")
	if c.DatabaseURL != "" {
		if _, err := mysql.DSN(c.DatabaseURL); err != nil {
			bad = append(bad, fmt.Sprintf("MP3CONVERTER_DATABASE_URL: %v", err))
		}
	}
	if uses("auth", "gateway") {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			bad = append(bad, fmt.Sprintf("MP3CONVERTER_ADDR=%q: want host:port, e.g. :8080", c.Addr))
		}
		if err := checkJWTSecret(c.JWTSecret); err != nil {
			bad = append(bad, err.Error())
		}
		if _, err := httpapi.ParseProxies(c.Proxies); err != nil {
			bad = append(bad, fmt.Sprintf("MP3CONVERTER_TRUSTED_PROXIES=%q: %v", c.Proxies, err))
		}
	}
	if uses("converter", "notification") {
		if _, _, err := net.SplitHostPort(c.HealthAddr); err != nil {
			bad = append(bad, fmt.Sprintf("MP3CONVERTER_HEALTH_ADDR=%q: want host:port, e.g. :8081", c.HealthAddr))
		}
	}
	if uses("gateway", "converter", "notification") {
		need(c.QueueURL != "", "MP3CONVERTER_QUEUE_URL is not set")
		if c.QueueURL != "" {
			if _, err := rabbitmq.New(c.QueueURL, rabbitmq.Options{}); err != nil {
				bad = append(bad, fmt.Sprintf("MP3CONVERTER_QUEUE_URL: %v", err))
			}
		}
		need(c.MaxAttempts >= 1, "MP3CONVERTER_MAX_ATTEMPTS must be 1 or more")
	}
	if uses("gateway", "converter") {
		need(c.StorageURL != "", "MP3CONVERTER_STORAGE_URL is not set")
		need(c.StorageURL == "" || strings.HasPrefix(c.StorageURL, "mongodb://") || strings.HasPrefix(c.StorageURL, "mongodb+srv://"),
			"MP3CONVERTER_STORAGE_URL: want mongodb://host:27017")
		need(c.VideoQueue != "", "VIDEO_QUEUE is empty")
	}
	if uses("converter", "notification") {
		need(c.MP3Queue != "", "MP3_QUEUE is empty")
	}
	switch role {
	case "gateway":
		need(c.AuthAddr != "", "AUTH_SVC_ADDRESS is not set")
		need(c.MaxUpload > 0, "MP3CONVERTER_MAX_UPLOAD must be positive")
		need(c.Retention >= 0, "MP3CONVERTER_RETENTION must not be negative")
	case "converter":
		need(c.Workers >= 1, "MP3CONVERTER_WORKERS must be 1 or more")
		need(c.VideoQueue != c.MP3Queue, "VIDEO_QUEUE and MP3_QUEUE must differ")
		need(c.MaxDuration >= 0, "MP3CONVERTER_MAX_DURATION must not be negative")
	case "auth":
		need(c.TokenTTL > 0, "MP3CONVERTER_TOKEN_TTL must be positive")
	case "notification":
		if c.SMTPURL != "" {
			if _, err := smtp.New(c.SMTPURL, c.MailFrom, 0); err != nil {
				bad = append(bad, fmt.Sprintf("MP3CONVERTER_SMTP_URL: %v", err))
			}
		}
	}
	need(c.ShutdownGrace >= 0, "MP3CONVERTER_SHUTDOWN_GRACE must not be negative")
	need(c.DrainDelay >= 0, "MP3CONVERTER_DRAIN_DELAY must not be negative")
	if len(bad) > 0 {
		return usageError{fmt.Errorf("bad setting: %s", strings.Join(bad, "; "))}
	}
	return nil
}

// Role is one role running in this process. Run starts it; Close stops it
// gracefully.
type Role struct {
	Name   string
	Config RoleConfig
	Logger *slog.Logger

	// Addr is where its HTTP server listens, once Run returns.
	Addr string

	server   *http.Server
	draining drainFlag
	closers  []func()
	cancel   context.CancelFunc
	workers  sync.WaitGroup
}

func runRole(ctx context.Context, name string, args []string, stderr io.Writer) error {
	s := newSettings(name, stderr)
	var cfg RoleConfig
	cfg.register(name, s)
	if err := s.Parse(args); err != nil {
		return usageError{err}
	}
	if err := cfg.validate(name); err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	r := &Role{Name: name, Config: cfg, Logger: log.With("role", name)}
	if err := r.Run(ctx); err != nil {
		r.Close()
		return err
	}
	<-ctx.Done()
	r.Logger.Info("ShuttingDown")
	return r.Close()
}

// Run connects to the engines the role needs and starts it.
func (r *Role) Run(ctx context.Context) error {
	c := r.Config
	log := r.Logger
	policy := mp3converter.DefaultRetryPolicy
	policy.MaxAttempts = c.MaxAttempts

	db, err := mysql.Open(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	r.closers = append(r.closers, func() { db.Close() })
	checks := []httpapi.Check{r.draining.check(), {Name: "database", Check: db.Ping}}

	var queue *rabbitmq.Queue
	if c.QueueURL != "" {
		queue, err = rabbitmq.New(c.QueueURL, rabbitmq.Options{Policy: policy, Logger: log, ConnectionName: "mp3converter-" + r.Name})
		if err != nil {
			return err
		}
		r.closers = append(r.closers, func() { queue.Close() })
		checks = append(checks, httpapi.Check{Name: "queue", Check: queue.Ping})
	}
	var videos, mp3s *gridfs.Store
	if c.StorageURL != "" {
		client, err := gridfs.Connect(ctx, c.StorageURL)
		if err != nil {
			return err
		}
		r.closers = append(r.closers, func() { client.Disconnect(context.Background()) })
		videos, mp3s = gridfs.New(client, "videos"), gridfs.New(client, "mp3s")
		checks = append(checks, httpapi.Check{Name: "storage", Check: videos.Ping})
	}

	workCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	proxies, _ := httpapi.ParseProxies(c.Proxies) // checked by validate
	var handler http.Handler
	addr := c.Addr
	switch r.Name {
	case "auth":
		svc := &auth.Service{Users: db.Users, Secret: []byte(c.JWTSecret), TTL: c.TokenTTL, Logger: log}
		handler = (&httpapi.AuthServer{Service: svc, Throttle: httpapi.NewThrottle(), Proxies: proxies, Checks: checks, Logger: log}).Handler()
	case "gateway":
		tokens := &auth.Service{Users: db.Users, Secret: []byte(c.JWTSecret), Logger: log}
		gw := &httpapi.Gateway{
			Auth: &httpapi.AuthClient{Addr: c.AuthAddr}, Tokens: tokens, Jobs: db.Jobs, Videos: videos, MP3s: mp3s,
			Queue: queue, VideoQueue: c.VideoQueue, MaxUpload: c.MaxUpload, Checks: checks, Logger: log,
			Throttle: httpapi.NewThrottle(), Proxies: proxies,
		}
		handler = gw.Handler()
		sweeper := &retention.Sweeper{Jobs: db.Jobs, Videos: videos, MP3s: mp3s, Retention: c.Retention, Logger: log}
		r.start(func() { sweeper.Run(workCtx, retention.Interval(c.Retention)) })
	case "converter":
		conv := &ffmpeg.Transcoder{FFmpeg: c.FFmpeg, FFprobe: c.FFprobe}
		if err := conv.Check(ctx); err != nil {
			return err
		}
		scratch, err := conversion.ScratchDir(c.TempDir)
		if err != nil {
			return err
		}
		r.closers = append(r.closers, func() { os.RemoveAll(scratch) })
		w := &conversion.Worker{
			Videos: videos, MP3s: mp3s, Jobs: db.Jobs, Queue: queue, Transcoder: conv,
			VideoQueue: c.VideoQueue, MP3Queue: c.MP3Queue, TempDir: scratch,
			MaxDuration: c.MaxDuration, KeepVideos: c.KeepVideos, Grace: c.ShutdownGrace, Logger: log,
		}
		r.start(func() { w.Run(workCtx, c.Workers) })
		handler, addr = httpapi.HealthHandler(checks, log), c.HealthAddr
	case "notification":
		n, err := newNotifier(c.SMTPURL, c.MailFrom, log)
		if err != nil {
			return err
		}
		w := &notification.Worker{Queue: queue, MP3Queue: c.MP3Queue, Notifier: n, Jobs: db.Jobs, PublicURL: c.PublicURL, Logger: log}
		r.start(func() { w.Run(workCtx, 2) })
		handler, addr = httpapi.HealthHandler(checks, log), c.HealthAddr
	default:
		return usageError{fmt.Errorf("unknown role %q", r.Name)}
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	r.Addr = ln.Addr().String()
	r.server = newHTTPServer(handler, log)
	go func() {
		if err := r.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTPServerFailed", "err", err)
		}
	}()
	log.Info("Serving", "addr", r.Addr)
	return nil
}

func (r *Role) start(f func()) {
	r.workers.Add(1)
	go func() { defer r.workers.Done(); f() }()
}

// Close stops taking requests and work, lets work in flight finish within
// the grace period, and closes connections.
func (r *Role) Close() error {
	if r.server != nil {
		r.draining.drain(r.Config.DrainDelay, r.Logger)
		ctx, cancel := context.WithTimeout(context.Background(), r.Config.ShutdownGrace)
		r.server.Shutdown(ctx)
		cancel()
	}
	if r.cancel != nil {
		r.cancel()
		r.workers.Wait()
	}
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	return nil
}
