package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/conversion"
	"github.com/mp3converter/mp3converter/ffmpeg"
	"github.com/mp3converter/mp3converter/goqite"
	"github.com/mp3converter/mp3converter/httpapi"
	"github.com/mp3converter/mp3converter/localfs"
	"github.com/mp3converter/mp3converter/notification"
	"github.com/mp3converter/mp3converter/retention"
	"github.com/mp3converter/mp3converter/smtp"
	"github.com/mp3converter/mp3converter/sqlite"
)

// ServeConfig configures "serve": every role in one process.
type ServeConfig struct {
	DataDir       string
	Addr          string
	PublicURL     string
	Workers       int
	MaxUpload     int64
	MaxDuration   time.Duration
	KeepVideos    bool
	Retention     time.Duration
	Proxies       string
	JWTSecret     string
	TokenTTL      time.Duration
	SMTPURL       string
	MailFrom      string
	VideoQueue    string
	MP3Queue      string
	MaxAttempts   int
	ShutdownGrace time.Duration
	DrainDelay    time.Duration
	LogFormat     string
	LogLevel      string
	FFmpeg        string
	FFprobe       string
}

func (c *ServeConfig) register(s *settings) {
	s.String(&c.DataDir, "data-dir", "./data", "directory for the database, media and secrets", "MP3CONVERTER_DATA_DIR")
	s.String(&c.Addr, "addr", ":8080", "HTTP listen address", "MP3CONVERTER_ADDR")
	s.String(&c.PublicURL, "public-url", "", "the address users reach the service at, for links in mail (default http://localhost<addr>)", "MP3CONVERTER_PUBLIC_URL")
	s.Int(&c.Workers, "workers", runtime.NumCPU(), "conversions run in parallel", "MP3CONVERTER_WORKERS")
	s.Bytes(&c.MaxUpload, "max-upload", 2<<30, "largest file accepted", "MP3CONVERTER_MAX_UPLOAD")
	s.Duration(&c.MaxDuration, "max-duration", 4*time.Hour, "longest media converted; 0 for no limit", "MP3CONVERTER_MAX_DURATION")
	s.Bool(&c.KeepVideos, "keep-videos", false, "keep source videos after conversion", "MP3CONVERTER_KEEP_VIDEOS")
	s.Duration(&c.Retention, "retention", 30*24*time.Hour, "jobs and their files are deleted this long after their last change; 0 keeps them", "MP3CONVERTER_RETENTION")
	s.String(&c.Proxies, "trusted-proxies", "127.0.0.1/8,::1", "proxies whose X-Forwarded-For names the client, comma-separated CIDRs", "MP3CONVERTER_TRUSTED_PROXIES")
	s.Secret(&c.JWTSecret, "jwt-secret", "JWT signing secret, 16 characters or more (default: generated and kept in the data dir)", "JWT_SECRET")
	s.Duration(&c.TokenTTL, "token-ttl", 24*time.Hour, "lifetime of a login token", "MP3CONVERTER_TOKEN_TTL")
	s.Secret(&c.SMTPURL, "smtp-url", "SMTP server for notices, smtp://user:pass@host:587 (default: notices go to the log)", "MP3CONVERTER_SMTP_URL")
	s.String(&c.MailFrom, "mail-from", "mp3converter@localhost", "sender address of notices", "MP3CONVERTER_MAIL_FROM")
	s.String(&c.VideoQueue, "video-queue", mp3converter.DefaultVideoQueue, "queue of videos to convert", "VIDEO_QUEUE")
	s.String(&c.MP3Queue, "mp3-queue", mp3converter.DefaultMP3Queue, "queue of finished MP3s", "MP3_QUEUE")
	s.Int(&c.MaxAttempts, "max-attempts", mp3converter.DefaultRetryPolicy.MaxAttempts, "deliveries of a message before it is dead-lettered", "MP3CONVERTER_MAX_ATTEMPTS")
	s.Duration(&c.ShutdownGrace, "shutdown-grace", 25*time.Second, "time in-flight work gets to finish on SIGTERM", "MP3CONVERTER_SHUTDOWN_GRACE")
	s.Duration(&c.DrainDelay, "drain-delay", 0, "on SIGTERM, fail /readyz but keep serving this long first, so a load balancer stops sending requests", "MP3CONVERTER_DRAIN_DELAY")
	s.String(&c.LogFormat, "log-format", "text", "text or json", "MP3CONVERTER_LOG_FORMAT")
	s.String(&c.LogLevel, "log-level", "info", "debug, info, warn or error", "MP3CONVERTER_LOG_LEVEL")
	s.String(&c.FFmpeg, "ffmpeg", "ffmpeg", "ffmpeg binary", "MP3CONVERTER_FFMPEG")
	s.String(&c.FFprobe, "ffprobe", "ffprobe", "ffprobe binary", "MP3CONVERTER_FFPROBE")
}

func (c *ServeConfig) validate() error {
	var bad []string
	if c.DataDir == "" {
		bad = append(bad, "MP3CONVERTER_DATA_DIR is empty")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad = append(bad, fmt.Sprintf("MP3CONVERTER_ADDR=%q: want host:port, e.g. :8080", c.Addr))
	}
	if c.Workers < 1 {
		bad = append(bad, fmt.Sprintf("MP3CONVERTER_WORKERS=%d: want 1 or more", c.Workers))
	}
	if c.MaxAttempts < 1 {
		bad = append(bad, fmt.Sprintf("MP3CONVERTER_MAX_ATTEMPTS=%d: want 1 or more", c.MaxAttempts))
	}
	if c.MaxDuration < 0 || c.ShutdownGrace < 0 || c.DrainDelay < 0 || c.TokenTTL <= 0 || c.Retention < 0 {
		bad = append(bad, "durations must not be negative, and MP3CONVERTER_TOKEN_TTL must be positive")
	}
	if _, err := httpapi.ParseProxies(c.Proxies); err != nil {
		bad = append(bad, fmt.Sprintf("MP3CONVERTER_TRUSTED_PROXIES=%q: %v", c.Proxies, err))
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < auth.MinSecretLength {
		bad = append(bad, fmt.Sprintf("JWT_SECRET: too short (%d characters, want %d or more)", len(c.JWTSecret), auth.MinSecretLength))
	}
	if c.VideoQueue == "" || c.MP3Queue == "" || c.VideoQueue == c.MP3Queue {
		bad = append(bad, "VIDEO_QUEUE and MP3_QUEUE must be set and differ")
	}
	if len(bad) > 0 {
		return usageError{fmt.Errorf("bad setting: %s", strings.Join(bad, "; "))}
	}
	return nil
}

// Serve runs every role in one process on embedded storage. Run starts it;
// Close stops it gracefully.
type Serve struct {
	Config ServeConfig
	Logger *slog.Logger
	Stdout io.Writer // where a generated admin password is printed

	// Addr is the address the HTTP server listens on, once Run returns.
	Addr string

	lock     *os.File
	draining drainFlag
	db       *sqlite.DB
	queue    *goqite.Queue
	server   *http.Server
	cancel   context.CancelFunc
	workers  sync.WaitGroup
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	s := newSettings("serve", stderr)
	var cfg ServeConfig
	cfg.register(s)
	if err := s.Parse(args); err != nil {
		return usageError{err}
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	if err != nil {
		return err
	}
	m := &Serve{Config: cfg, Logger: log, Stdout: stdout}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	<-ctx.Done()
	log.Info("ShuttingDown")
	return m.Close()
}

// Run opens the stores, starts the workers and the HTTP server, and returns.
func (m *Serve) Run(ctx context.Context) error {
	c := m.Config
	log := m.Logger
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	lock, err := lockDir(c.DataDir)
	if err != nil {
		return err
	}
	m.lock = lock

	conv := &ffmpeg.Transcoder{FFmpeg: c.FFmpeg, FFprobe: c.FFprobe}
	if err := conv.Check(ctx); err != nil {
		return err
	}
	m.db, err = sqlite.Open(ctx, filepath.Join(c.DataDir, "mp3converter.db"))
	if err != nil {
		return err
	}
	videos, err := localfs.Open(filepath.Join(c.DataDir, "videos"))
	if err != nil {
		return err
	}
	mp3s, err := localfs.Open(filepath.Join(c.DataDir, "mp3s"))
	if err != nil {
		return err
	}
	// Temp files of a run that died are ours to remove: we hold the lock.
	tmp := filepath.Join(c.DataDir, "tmp")
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		return err
	}
	policy := mp3converter.DefaultRetryPolicy
	policy.MaxAttempts = c.MaxAttempts
	m.queue = goqite.New(m.db.DB, goqite.Options{Policy: policy, Logger: log})
	if err := m.recover(ctx); err != nil {
		return err
	}

	proxies, _ := httpapi.ParseProxies(c.Proxies) // checked by validate
	secret, err := jwtSecret(c.JWTSecret, c.DataDir)
	if err != nil {
		return err
	}
	authSvc := &auth.Service{Users: m.db.Users, Secret: secret, TTL: c.TokenTTL, Logger: log}

	notifier, err := newNotifier(c.SMTPURL, c.MailFrom, log)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	m.Addr = ln.Addr().String()
	publicURL := c.PublicURL
	if publicURL == "" {
		publicURL = "http://" + localAddr(m.Addr)
	}
	if err := firstAdmin(ctx, authSvc, m.db.Users, publicURL, m.Stdout, log); err != nil {
		ln.Close()
		return err
	}

	workCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	converterWorker := &conversion.Worker{
		Videos: videos, MP3s: mp3s, Jobs: m.db.Jobs, Queue: m.queue, Transcoder: conv,
		VideoQueue: c.VideoQueue, MP3Queue: c.MP3Queue, TempDir: tmp,
		MaxDuration: c.MaxDuration, KeepVideos: c.KeepVideos, Grace: c.ShutdownGrace,
		Logger: log.With("role", "converter"),
	}
	notificationWorker := &notification.Worker{
		Queue: m.queue, MP3Queue: c.MP3Queue, Notifier: notifier, Jobs: m.db.Jobs,
		PublicURL: publicURL, Logger: log.With("role", "notification"),
	}
	sweeper := &retention.Sweeper{Jobs: m.db.Jobs, Videos: videos, MP3s: mp3s, Retention: c.Retention, Logger: log.With("role", "retention")}
	m.workers.Add(3)
	go func() { defer m.workers.Done(); converterWorker.Run(workCtx, c.Workers) }()
	go func() { defer m.workers.Done(); notificationWorker.Run(workCtx, 2) }()
	go func() { defer m.workers.Done(); sweeper.Run(workCtx, retention.Interval(c.Retention)) }()

	gw := &httpapi.Gateway{
		Auth: authSvc, Tokens: authSvc, Jobs: m.db.Jobs, Videos: videos, MP3s: mp3s, Queue: m.queue,
		VideoQueue: c.VideoQueue, MaxUpload: c.MaxUpload, Logger: log.With("role", "gateway"),
		Throttle: httpapi.NewThrottle(), Proxies: proxies,
		Checks: []httpapi.Check{m.draining.check(), {Name: "database", Check: m.db.Ping}, {Name: "videos", Check: videos.Ping}, {Name: "mp3s", Check: mp3s.Ping}},
	}
	m.server = newHTTPServer(gw.Handler(), log)
	go func() {
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTPServerFailed", "err", err)
		}
	}()
	log.Info("Serving", "addr", m.Addr, "data_dir", c.DataDir, "workers", c.Workers, "notices", fmt.Sprint(notifier))
	return nil
}

// recover picks up after a process that died holding work: its messages are
// redelivered now, and its jobs show as queued until they are.
func (m *Serve) recover(ctx context.Context) error {
	n, err := m.queue.Recover(ctx)
	if err != nil {
		return err
	}
	stuck, err := m.db.Jobs.ListJobs(ctx, mp3converter.JobFilter{Status: mp3converter.JobProcessing})
	if err != nil {
		return err
	}
	for _, j := range stuck {
		if _, err := m.db.Jobs.UpdateJob(ctx, j.ID, func(j *mp3converter.Job) error {
			j.Status, j.Progress = mp3converter.JobQueued, 0
			return nil
		}); err != nil {
			return err
		}
	}
	if n > 0 || len(stuck) > 0 {
		m.Logger.Info("Recovered", "messages", n, "jobs", len(stuck))
	}
	return nil
}

// Close stops taking requests and work, lets work in flight finish within
// the grace period, and closes the stores.
func (m *Serve) Close() error {
	grace := m.Config.ShutdownGrace
	if m.server != nil {
		m.draining.drain(m.Config.DrainDelay, m.Logger)
		ctx, cancel := context.WithTimeout(context.Background(), grace)
		m.server.Shutdown(ctx)
		cancel()
	}
	if m.cancel != nil {
		m.cancel()
		m.workers.Wait()
	}
	if m.queue != nil {
		m.queue.Close()
	}
	if m.db != nil {
		m.db.Close()
	}
	if m.lock != nil {
		m.lock.Close()
	}
	return nil
}

// drainFlag fails readiness while a stopping server still serves, so that
// load balancers stop sending it requests before it stops listening.
type drainFlag struct{ on atomic.Bool }

func (d *drainFlag) check() httpapi.Check {
	return httpapi.Check{Name: "shutdown", Check: func(context.Context) error {
		if d.on.Load() {
			return errors.New("shutting down")
		}
		return nil
	}}
}

func (d *drainFlag) drain(delay time.Duration, log *slog.Logger) {
	if delay <= 0 {
		return
	}
	d.on.Store(true)
	log.Info("Draining", "delay", delay)
	time.Sleep(delay)
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// newNotifier sends notices over SMTP when smtpURL is set, else to the log.
func newNotifier(smtpURL, from string, log *slog.Logger) (mp3converter.Notifier, error) {
	if smtpURL == "" {
		return notification.LogNotifier{Logger: log}, nil
	}
	n, err := smtp.New(smtpURL, from, 30*time.Second)
	if err != nil {
		return nil, usageError{fmt.Errorf("bad setting: MP3CONVERTER_SMTP_URL: %w", err)}
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

// lockDir takes an exclusive lock on the data dir, so that two servers
// never share one.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another mp3converter", dir)
	}
	return f, nil
}

// jwtSecret returns the configured secret, or the one kept in the data dir,
// generated on first use.
func jwtSecret(configured, dir string) ([]byte, error) {
	if configured != "" {
		return []byte(configured), nil
	}
	path := filepath.Join(dir, "jwt-secret")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= auth.MinSecretLength {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	s := hex.EncodeToString(secret)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return []byte(s), nil
}

// firstAdmin creates an admin on a first start with no users: from
// MP3CONVERTER_ADMIN_EMAIL and MP3CONVERTER_ADMIN_PASSWORD, or with a
// generated password printed once.
func firstAdmin(ctx context.Context, a *auth.Service, users mp3converter.UserStore, publicURL string, stdout io.Writer, log *slog.Logger) error {
	list, err := users.ListUsers(ctx)
	if err != nil || len(list) > 0 {
		return err
	}
	email, password := os.Getenv("MP3CONVERTER_ADMIN_EMAIL"), os.Getenv("MP3CONVERTER_ADMIN_PASSWORD")
	generated := password == ""
	if email == "" {
		email = "admin@localhost"
	}
	email, err = mp3converter.NormalizeEmail(email)
	if err != nil {
		return usageError{fmt.Errorf("bad setting: MP3CONVERTER_ADMIN_EMAIL: %w", err)}
	}
	if generated {
		password = rand.Text()[:20]
	} else if len(password) < minPassword {
		return usageError{fmt.Errorf("bad setting: MP3CONVERTER_ADMIN_PASSWORD: shorter than %d characters", minPassword)}
	}
	hash, err := a.HashPassword(password)
	if err != nil {
		return err
	}
	if err := users.CreateUser(ctx, &mp3converter.User{Email: email, PasswordHash: hash, Admin: true}); err != nil {
		return err
	}
	log.Info("AdminCreated", "email", email)
	if generated {
		fmt.Fprintf(stdout, "\nCreated the first user, an admin:\n  email:    %s\n  password: %s\nThis password is shown once. Log in with:\n  curl -X POST -u '%s:%s' %s/login\n\n", email, password, email, password, publicURL)
	}
	return nil
}
