package app

import (
	"cmp"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/httpapi"
	"github.com/mp3converter/mp3converter/internal/bytesize"
	"github.com/mp3converter/mp3converter/internal/cmdflag"
	"github.com/mp3converter/mp3converter/mysql"
	"github.com/mp3converter/mp3converter/rabbitmq"
	"github.com/mp3converter/mp3converter/smtp"
)

// Config is every setting of every process. Each process reads the ones
// its roles and engines use (see settings).
type Config struct {
	DataDir       string
	Addr          string
	HealthAddr    string
	MetricsAddr   string // "": on Addr or HealthAddr; "off": nowhere
	PublicURL     string
	DatabaseURL   string
	QueueURL      string
	QueueType     string // RabbitMQ's: classic or quorum
	StorageURL    string
	SMTPURL       string
	MailFrom      string
	JWTSecret     string
	AuthAddr      string
	VideoQueue    string
	MP3Queue      string
	MaxAttempts   int
	Workers       int
	TempDir       string
	MaxUpload     bytesize.Size
	MaxDuration   time.Duration
	ParallelAbove time.Duration // audio this long or longer is encoded on several cores; 0: never
	MaxPerUser    int           // jobs of one user converting at once; 0: half the workers
	Batch         int           // short conversions one ffmpeg run takes; 1: each alone
	KeepVideos    bool
	Retention     time.Duration
	Proxies       string
	TokenTTL      time.Duration
	AdminEmail    string
	AdminPassword string
	ShutdownGrace time.Duration
	DrainDelay    time.Duration
	LogFormat     string
	LogLevel      string
	FFmpeg        string
	FFprobe       string

	// Limits that keep slow, many or large uploads from exhausting the
	// gateway or the disk.
	MinUploadRate     bytesize.Size // bytes per second
	UploadGrace       time.Duration
	MaxUploads        int
	MaxUploadsPerUser int
	MinFreeSpace      bytesize.Size

	// Limits that keep slow or many connections from exhausting the
	// process's descriptors.
	BodyTimeout       time.Duration
	MaxConnsPerClient int
	MaxConns          int

	WebhookAllowPrivate bool

	MaxJobsKept int // jobs one user may keep; 0: no cap

	// Resumable uploads (/files/, tus).
	UploadExpiry  time.Duration
	MaxUnfinished int

	// Live updates (GET /jobs/events).
	EventsPollInterval     time.Duration
	EventsHeartbeat        time.Duration
	MaxEventStreams        int
	MaxEventStreamsPerUser int
}

// setting is one flag, its environment variables and its default.
type setting struct {
	flag  string
	env   []string // the first set one gives the default
	usage string
	def   string            // the default, in flag syntax
	shown string            // the default as documented, when def depends on the machine
	per   map[string]string // defaults that differ by process name
	shape Shape             // the process shapes that use it
	roles Role              // a process uses it when it runs any of these
	// field is the Config field as a flag.Value, which parses it and says
	// how it is shown: cmdflag's adapters, or a bytesize.Size. A
	// cmdflag.Secret is never shown in usage or errors.
	field func(*Config) flag.Value
	// check returns what is wrong with the value, or "".
	check func(c *Config, p Process) string
}

// DefaultParallelAbove is --parallel-above's default: from about a minute
// both parallel paths beat one pass (BenchmarkParallelAbove: at 60 s the
// lanes reading the source take 0.69-0.79 of one pass's time and the
// decoder's 0.89; at 30 s the decoder's, one segment long, takes 1.36).
const DefaultParallelAbove = "1m"

// DefaultBatch is serve's --batch: two 10 s clips in one run of ffmpeg
// cost 0.6 of what they do alone, four 0.5 (BENCHMARKS.md). The converter
// role's is 1: its pods take one job each and scale by the jobs queued,
// and a job held waiting in one pod is a job an idle pod cannot take.
const DefaultBatch = 4

const both = Standalone | Split

// withQueue are the roles that publish or consume messages.
const withQueue = Gateway | Converter | Notification

// settings is the one flag table. Order is the order of -h and the README.
// Rows are alike in shape by design: each is data, not code to share.
var settings = []setting{
	{flag: "data-dir", env: []string{"MP3CONVERTER_DATA_DIR"}, def: "./data", shape: Standalone, roles: AllRoles,
		usage: "directory for the database, media and secrets", field: func(c *Config) flag.Value { return cmdflag.String(&c.DataDir) },
		check: func(c *Config, _ Process) string { return notEmpty(c.DataDir) }},
	{flag: "addr", env: []string{"MP3CONVERTER_ADDR"}, def: ":8080", per: map[string]string{"auth": ":5000"}, shape: both, roles: Gateway | Auth,
		usage: "HTTP listen address", field: func(c *Config) flag.Value { return cmdflag.String(&c.Addr) },
		check: func(c *Config, _ Process) string { return hostPort(c.Addr, ":8080") }},
	{flag: "health-addr", env: []string{"MP3CONVERTER_HEALTH_ADDR"}, def: ":8081", per: map[string]string{"notification": ":8082"}, shape: Split, roles: Converter | Notification,
		usage: "listen address of /healthz and /readyz (of a process without --addr)", field: func(c *Config) flag.Value { return cmdflag.String(&c.HealthAddr) },
		check: func(c *Config, p Process) string {
			if p.serves() {
				return ""
			}
			return hostPort(c.HealthAddr, ":8081")
		}},
	{flag: "metrics-addr", env: []string{"MP3CONVERTER_METRICS_ADDR"}, shown: "the process's own port", shape: both, roles: AllRoles,
		usage: "where Prometheus /metrics is served: empty for the process's HTTP port (--addr, or --health-addr), host:port for a listener of its own (to keep it off the gateway's public port), or off",
		field: func(c *Config) flag.Value { return cmdflag.String(&c.MetricsAddr) },
		check: func(c *Config, _ Process) string {
			if c.MetricsAddr == "" || c.MetricsAddr == metricsOff {
				return ""
			}
			return hostPort(c.MetricsAddr, ":9090")
		}},
	{flag: "public-url", env: []string{"MP3CONVERTER_PUBLIC_URL"}, shown: "http://localhost<addr>, or http://localhost:8080", shape: both, roles: Notification,
		usage: "the gateway's address as users reach it, for links in mail", field: func(c *Config) flag.Value { return cmdflag.String(&c.PublicURL) }},
	{flag: databaseURL, env: []string{urlEnv[databaseURL]}, per: map[string]string{"serve": defaultDatabase}, shape: both, roles: AllRoles,
		usage: "users, jobs and webhooks: " + forms(databaseURL) + " (or, but for serve, the seed's MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, MYSQL_DB)",
		field: func(c *Config) flag.Value { return cmdflag.Secret(&c.DatabaseURL) },
		check: func(c *Config, _ Process) string { return checkEngine(databaseURL, c.DatabaseURL) }},
	{flag: queueURL, env: []string{urlEnv[queueURL]}, per: map[string]string{"serve": defaultQueue}, shape: both, roles: withQueue,
		usage: "the queue between roles: " + forms(queueURL), field: func(c *Config) flag.Value { return cmdflag.Secret(&c.QueueURL) },
		check: func(c *Config, _ Process) string {
			if msg := checkEngine(queueURL, c.QueueURL); msg != "" {
				return msg
			}
			if en, _ := engineFor(queueURL, c.QueueURL); en.needsSQLite {
				if db, _ := engineFor(databaseURL, c.DatabaseURL); db.scheme != "sqlite" {
					return "goqite: keeps its queue in the SQLite database: it needs a sqlite: " + envOf(databaseURL)
				}
			}
			return ""
		}},
	{flag: "queue-type", env: []string{"MP3CONVERTER_QUEUE_TYPE"}, def: rabbitmq.Classic, shape: both, roles: withQueue,
		usage: "RabbitMQ's queues: classic, on one node, as the original services declare them, or quorum, replicated on a cluster's nodes (3 or more) and kept while a minority is down. " +
			"RabbitMQ refuses to redeclare a queue as the other type, so every process and command must agree, and the original services, which declare classic queues, must all be replaced before quorum is set: " +
			"switch on new or drained and deleted queues, or in a new vhost",
		field: func(c *Config) flag.Value { return cmdflag.String(&c.QueueType) },
		check: func(c *Config, _ Process) string {
			if msg := oneOf(c.QueueType, rabbitmq.Classic, rabbitmq.Quorum); msg != "" {
				return msg
			}
			if en, err := engineFor(queueURL, c.QueueURL); err == nil && c.QueueType == rabbitmq.Quorum && !strings.HasPrefix(en.scheme, "amqp") {
				return "quorum queues are RabbitMQ's: " + envOf(queueURL) + " names " + en.scheme + ":, which has one kind; leave it classic"
			}
			return ""
		}},
	{flag: storageURL, env: []string{urlEnv[storageURL]}, per: map[string]string{"serve": defaultStorage}, shape: both, roles: Gateway | Converter | Notification,
		usage: "videos and MP3s: " + forms(storageURL), field: func(c *Config) flag.Value { return cmdflag.Secret(&c.StorageURL) },
		check: func(c *Config, _ Process) string { return checkEngine(storageURL, c.StorageURL) }},
	{flag: "smtp-url", env: []string{"MP3CONVERTER_SMTP_URL"}, shape: both, roles: Notification,
		usage: "SMTP server for notices, smtp://user:pass@host:587 (default: notices go to the log)", field: func(c *Config) flag.Value { return cmdflag.Secret(&c.SMTPURL) },
		check: func(c *Config, _ Process) string {
			if c.SMTPURL == "" {
				return ""
			}
			return errText(smtp.New(c.SMTPURL, c.MailFrom, 0))
		}},
	{flag: "mail-from", env: []string{"MP3CONVERTER_MAIL_FROM"}, def: "mp3converter@localhost", shape: both, roles: Notification,
		usage: "sender address of notices", field: func(c *Config) flag.Value { return cmdflag.String(&c.MailFrom) }},
	{flag: "jwt-secret", env: []string{"JWT_SECRET"}, shape: both, roles: Gateway | Auth,
		usage: "JWT signing secret, 16 characters or more, the same for auth and gateway (serve: generated and kept in the data dir when unset)",
		field: func(c *Config) flag.Value { return cmdflag.Secret(&c.JWTSecret) },
		check: func(c *Config, p Process) string {
			if c.JWTSecret == "" && p.Shape == Standalone {
				return ""
			}
			return checkJWTSecret(c.JWTSecret)
		}},
	{flag: "auth-address", env: []string{"AUTH_SVC_ADDRESS"}, def: "auth:5000", shape: Split, roles: Gateway,
		usage: "the auth service, host:port (of a gateway without the auth role)", field: func(c *Config) flag.Value { return cmdflag.String(&c.AuthAddr) },
		check: func(c *Config, p Process) string {
			if p.Roles.Has(Auth) {
				return ""
			}
			return notEmpty(c.AuthAddr)
		}},
	{flag: "video-queue", env: []string{"VIDEO_QUEUE"}, def: mp3converter.DefaultVideoQueue, shape: both, roles: Gateway | Converter,
		usage: "queue of videos to convert", field: func(c *Config) flag.Value { return cmdflag.String(&c.VideoQueue) },
		check: func(c *Config, _ Process) string {
			if c.VideoQueue == c.MP3Queue && c.VideoQueue != "" {
				return "must differ from MP3_QUEUE"
			}
			return notEmpty(c.VideoQueue)
		}},
	{flag: "mp3-queue", env: []string{"MP3_QUEUE"}, def: mp3converter.DefaultMP3Queue, shape: both, roles: withQueue,
		usage: "queue of finished MP3s (the gateway shows its depth in /metrics)", field: func(c *Config) flag.Value { return cmdflag.String(&c.MP3Queue) },
		check: func(c *Config, _ Process) string { return notEmpty(c.MP3Queue) }},
	{flag: "max-attempts", env: []string{"MP3CONVERTER_MAX_ATTEMPTS"}, def: fmt.Sprint(mp3converter.DefaultRetryPolicy.MaxAttempts), shape: both, roles: withQueue,
		usage: "deliveries of a message before it is dead-lettered", field: func(c *Config) flag.Value { return cmdflag.Int(&c.MaxAttempts) },
		check: func(c *Config, _ Process) string { return atLeastOne(c.MaxAttempts) }},
	{flag: "workers", env: []string{"MP3CONVERTER_WORKERS"}, def: fmt.Sprint(runtime.NumCPU()), shown: "the number of CPUs", shape: both, roles: Converter,
		usage: "conversions run in parallel", field: func(c *Config) flag.Value { return cmdflag.Int(&c.Workers) },
		check: func(c *Config, _ Process) string { return atLeastOne(c.Workers) }},
	{flag: "temp-dir", env: []string{"MP3CONVERTER_TEMP_DIR"}, def: os.TempDir(), shown: "the system's temp dir", shape: Split, roles: Converter | Gateway,
		usage: "where media is written while converting, and a gateway keeps resumable uploads' parts (mp3converter-uploads)", field: func(c *Config) flag.Value { return cmdflag.String(&c.TempDir) },
		check: func(c *Config, _ Process) string { return notEmpty(c.TempDir) }},
	{flag: "max-upload", env: []string{"MP3CONVERTER_MAX_UPLOAD"}, def: "2GiB", shape: both, roles: Gateway,
		usage: "largest file accepted", field: func(c *Config) flag.Value { return &c.MaxUpload },
		check: func(c *Config, _ Process) string { return positive(c.MaxUpload) }},
	{flag: "min-upload-rate", env: []string{"MP3CONVERTER_MIN_UPLOAD_RATE"}, def: "64KiB", shape: both, roles: Gateway,
		usage: "bytes per second an upload must average once --upload-grace has passed, or it is cut (408); 0 for no floor",
		field: func(c *Config) flag.Value { return &c.MinUploadRate }},
	{flag: "upload-grace", env: []string{"MP3CONVERTER_UPLOAD_GRACE"}, def: "30s", shape: both, roles: Gateway,
		usage: "time an upload is given before --min-upload-rate applies", field: func(c *Config) flag.Value { return cmdflag.Duration(&c.UploadGrace) },
		check: func(c *Config, _ Process) string { return positive(c.UploadGrace) }},
	{flag: "max-uploads", env: []string{"MP3CONVERTER_MAX_UPLOADS"}, def: "64", shape: both, roles: Gateway,
		usage: "uploads in progress at once in this process; more are refused with 429", field: func(c *Config) flag.Value { return cmdflag.Int(&c.MaxUploads) },
		check: func(c *Config, _ Process) string { return atLeastOne(c.MaxUploads) }},
	{flag: "max-uploads-per-user", env: []string{"MP3CONVERTER_MAX_UPLOADS_PER_USER"}, def: "4", shape: both, roles: Gateway,
		usage: "uploads one user may have in progress at once, across the gateways that share the database; more are refused with 429", field: func(c *Config) flag.Value { return cmdflag.Int(&c.MaxUploadsPerUser) },
		check: func(c *Config, _ Process) string { return atLeastOne(c.MaxUploadsPerUser) }},
	{flag: "body-timeout", env: []string{"MP3CONVERTER_BODY_TIMEOUT"}, def: "10s", shape: both, roles: AllRoles,
		usage: "time a request body other than an upload's may take to arrive whole; past it the connection is cut",
		field: func(c *Config) flag.Value { return cmdflag.Duration(&c.BodyTimeout) },
		check: func(c *Config, _ Process) string { return positive(c.BodyTimeout) }},
	{flag: "max-connections-per-client", env: []string{"MP3CONVERTER_MAX_CONNECTIONS_PER_CLIENT"}, def: "64", shape: both, roles: AllRoles,
		usage: "connections one client address (an IPv6 /64) may hold open, or requests in progress behind --trusted-proxies; more are answered 429 and closed; counted by each process",
		field: func(c *Config) flag.Value { return cmdflag.Int(&c.MaxConnsPerClient) },
		check: func(c *Config, _ Process) string { return atLeastOne(c.MaxConnsPerClient) }},
	{flag: "max-connections", env: []string{"MP3CONVERTER_MAX_CONNECTIONS"}, def: "0", shown: "three quarters of the open-file limit", shape: both, roles: AllRoles,
		usage: "connections the process holds open in all; more are answered 429 and closed; 0 for three quarters of its open-file limit",
		field: func(c *Config) flag.Value { return cmdflag.Int(&c.MaxConns) },
		check: func(c *Config, _ Process) string {
			if c.MaxConns < 0 {
				return "must not be negative"
			}
			return ""
		}},
	{flag: "upload-expiry", env: []string{"MP3CONVERTER_UPLOAD_EXPIRY"}, def: "24h", shape: both, roles: Gateway,
		usage: "how long a resumable upload (/files/) is kept after its creation; an unfinished one is then swept with its parts",
		field: func(c *Config) flag.Value { return cmdflag.Duration(&c.UploadExpiry) },
		check: func(c *Config, _ Process) string { return positive(c.UploadExpiry) }},
	{flag: "max-unfinished-uploads-per-user", env: []string{"MP3CONVERTER_MAX_UNFINISHED_UPLOADS_PER_USER"}, def: "4", shape: both, roles: Gateway,
		usage: "unfinished resumable uploads (/files/) one user may keep; more are refused with 429",
		field: func(c *Config) flag.Value { return cmdflag.Int(&c.MaxUnfinished) },
		check: func(c *Config, _ Process) string { return atLeastOne(c.MaxUnfinished) }},
	{flag: "max-jobs-kept-per-user", env: []string{"MP3CONVERTER_MAX_JOBS_KEPT_PER_USER"}, def: "1000", shape: both, roles: Gateway,
		usage: "jobs one user may keep, whatever their status; past it, uploads are refused with 429 until the user deletes some (or --retention does); 0 for no cap",
		field: func(c *Config) flag.Value { return cmdflag.Int(&c.MaxJobsKept) },
		check: func(c *Config, _ Process) string {
			if c.MaxJobsKept < 0 {
				return "must not be negative"
			}
			return ""
		}},
	{flag: "min-free-space", env: []string{"MP3CONVERTER_MIN_FREE_SPACE"}, def: "512MiB", shape: both, roles: Converter,
		usage: "free disk space below which /readyz fails and uploads get 507: in the data dir (serve), in --temp-dir (converter); 0 for no floor",
		field: func(c *Config) flag.Value { return &c.MinFreeSpace }},
	{flag: "max-duration", env: []string{"MP3CONVERTER_MAX_DURATION"}, def: "4h", shape: both, roles: Converter,
		usage: "longest media converted; 0 for no limit", field: func(c *Config) flag.Value { return cmdflag.Duration(&c.MaxDuration) },
		check: func(c *Config, _ Process) string { return notNegative(c.MaxDuration) }},
	{flag: "parallel-above", env: []string{"MP3CONVERTER_PARALLEL_ABOVE"}, def: DefaultParallelAbove, shape: both, roles: Converter,
		usage: "audio this long or longer, when it is encoded (not copied), is split and encoded on the CPUs the workers leave idle; 0 for never",
		field: func(c *Config) flag.Value { return cmdflag.Duration(&c.ParallelAbove) },
		check: func(c *Config, _ Process) string { return notNegative(c.ParallelAbove) }},
	{flag: "batch", env: []string{"MP3CONVERTER_BATCH"}, def: strconv.Itoa(DefaultBatch), per: map[string]string{"converter": "1"}, shape: both, roles: Converter,
		usage: "short files (under a minute of audio, a minute in all) waiting for a worker are converted together, up to this many in one run of ffmpeg, which then starts once; to have them, the converter holds up to this many jobs a worker (two a worker when the videos are not on its own disk); 1 for each alone, the converter role's default, whose pods scale by the jobs queued",
		field: func(c *Config) flag.Value { return cmdflag.Int(&c.Batch) },
		check: func(c *Config, _ Process) string { return atLeastOne(c.Batch) }},
	{flag: "max-jobs-per-user", env: []string{"MP3CONVERTER_MAX_JOBS_PER_USER"}, def: "0", shape: both, roles: Converter,
		usage: "jobs of one user converted at once, across all converters, while another user has a job waiting (a user alone may use every worker); 0 for half of --workers, at least 1",
		field: func(c *Config) flag.Value { return cmdflag.Int(&c.MaxPerUser) },
		check: func(c *Config, _ Process) string {
			if c.MaxPerUser < 0 {
				return "must not be negative"
			}
			return ""
		}},
	{flag: "keep-videos", env: []string{"MP3CONVERTER_KEEP_VIDEOS"}, def: "false", shape: both, roles: Converter,
		usage: "keep source videos after conversion", field: func(c *Config) flag.Value { return cmdflag.Bool(&c.KeepVideos) }},
	{flag: "retention", env: []string{"MP3CONVERTER_RETENTION"}, def: "720h", shape: both, roles: Gateway,
		usage: "jobs and their files are deleted this long after their last change; 0 keeps them", field: func(c *Config) flag.Value { return cmdflag.Duration(&c.Retention) },
		check: func(c *Config, _ Process) string { return notNegative(c.Retention) }},
	{flag: "trusted-proxies", env: []string{"MP3CONVERTER_TRUSTED_PROXIES"}, shown: "none", shape: both, roles: Gateway | Auth,
		usage: "proxies whose X-Forwarded-For names the client (the ingress; for auth, the gateways), comma-separated CIDRs; behind a proxy, set it, or every client counts as the proxy",
		field: func(c *Config) flag.Value { return cmdflag.String(&c.Proxies) },
		check: func(c *Config, _ Process) string { return errText(httpapi.ParseProxies(c.Proxies)) }},
	{flag: "events-poll-interval", env: []string{"MP3CONVERTER_EVENTS_POLL_INTERVAL"}, def: "500ms", shape: both, roles: Gateway,
		usage: "how often the gateway reads the job store for changes to stream on /jobs/events: one query per interval, however many streams are open",
		field: func(c *Config) flag.Value { return cmdflag.Duration(&c.EventsPollInterval) },
		check: func(c *Config, _ Process) string { return positive(c.EventsPollInterval) }},
	{flag: "events-heartbeat", env: []string{"MP3CONVERTER_EVENTS_HEARTBEAT"}, def: "15s", shape: both, roles: Gateway,
		usage: "how often an idle /jobs/events stream gets a comment, so that proxies keep it open",
		field: func(c *Config) flag.Value { return cmdflag.Duration(&c.EventsHeartbeat) },
		check: func(c *Config, _ Process) string { return positive(c.EventsHeartbeat) }},
	{flag: "max-event-streams-per-user", env: []string{"MP3CONVERTER_MAX_EVENT_STREAMS_PER_USER"}, def: "8", shape: both, roles: Gateway,
		usage: "/jobs/events streams one user may hold open at once (a page or a convert command holds one); more are refused with 429. Counted across the gateways that share the database",
		field: func(c *Config) flag.Value { return cmdflag.Int(&c.MaxEventStreamsPerUser) },
		check: func(c *Config, _ Process) string { return atLeastOne(c.MaxEventStreamsPerUser) }},
	{flag: "max-event-streams", env: []string{"MP3CONVERTER_MAX_EVENT_STREAMS"}, def: "512", shape: both, roles: Gateway,
		usage: "/jobs/events streams open at once in all, each a connection's descriptor: half of a common limit of 1,024, leaving the rest to uploads, downloads and the stores; more are refused with 429. Counted per gateway process",
		field: func(c *Config) flag.Value { return cmdflag.Int(&c.MaxEventStreams) },
		check: func(c *Config, _ Process) string { return atLeastOne(c.MaxEventStreams) }},
	{flag: "webhook-allow-private", env: []string{"MP3CONVERTER_WEBHOOK_ALLOW_PRIVATE"}, def: "false", shape: both, roles: Gateway | Notification,
		usage: "let webhooks reach loopback, private, link-local and other non-public addresses (receivers on your own network); off, they are refused at registration and on every connection",
		field: func(c *Config) flag.Value { return cmdflag.Bool(&c.WebhookAllowPrivate) }},
	{flag: "token-ttl", env: []string{"MP3CONVERTER_TOKEN_TTL"}, def: "24h", shape: both, roles: Auth,
		usage: "lifetime of a login token", field: func(c *Config) flag.Value { return cmdflag.Duration(&c.TokenTTL) },
		check: func(c *Config, _ Process) string { return positive(c.TokenTTL) }},
	{flag: "admin-email", env: []string{"MP3CONVERTER_ADMIN_EMAIL"}, def: "admin@localhost", shape: Standalone, roles: Auth,
		usage: "email of the admin created on a first start with no users", field: func(c *Config) flag.Value { return cmdflag.String(&c.AdminEmail) },
		check: func(c *Config, _ Process) string {
			return errText(mp3converter.NormalizeEmail(cmp.Or(c.AdminEmail, "admin@localhost")))
		}},
	{flag: "admin-password", env: []string{"MP3CONVERTER_ADMIN_PASSWORD"}, shape: Standalone, roles: Auth,
		usage: "password of that admin (default: generated and printed once)", field: func(c *Config) flag.Value { return cmdflag.Secret(&c.AdminPassword) },
		check: func(c *Config, _ Process) string {
			if c.AdminPassword != "" && len(c.AdminPassword) < auth.MinPasswordLength {
				return fmt.Sprintf("shorter than %d characters", auth.MinPasswordLength)
			}
			return ""
		}},
	{flag: "shutdown-grace", env: []string{"MP3CONVERTER_SHUTDOWN_GRACE"}, def: "25s", per: map[string]string{"auth": "10s", "converter": "5m"}, shape: both, roles: AllRoles,
		usage: "time in-flight work gets to finish on SIGTERM", field: func(c *Config) flag.Value { return cmdflag.Duration(&c.ShutdownGrace) },
		check: func(c *Config, _ Process) string { return notNegative(c.ShutdownGrace) }},
	{flag: "drain-delay", env: []string{"MP3CONVERTER_DRAIN_DELAY"}, def: "0s", shape: both, roles: AllRoles,
		usage: "on SIGTERM, fail /readyz but keep serving this long first, so a load balancer stops sending requests",
		field: func(c *Config) flag.Value { return cmdflag.Duration(&c.DrainDelay) },
		check: func(c *Config, _ Process) string { return notNegative(c.DrainDelay) }},
	{flag: "log-format", env: []string{"MP3CONVERTER_LOG_FORMAT"}, def: "text", shape: both, roles: AllRoles,
		usage: "text or json", field: func(c *Config) flag.Value { return cmdflag.String(&c.LogFormat) },
		check: func(c *Config, _ Process) string { return oneOf(c.LogFormat, "text", "json") }},
	{flag: "log-level", env: []string{"MP3CONVERTER_LOG_LEVEL"}, def: "info", shape: both, roles: AllRoles,
		usage: "debug, info, warn or error", field: func(c *Config) flag.Value { return cmdflag.String(&c.LogLevel) },
		check: func(c *Config, _ Process) string { return oneOf(c.LogLevel, "debug", "info", "warn", "error") }},
	{flag: "ffmpeg", env: []string{"MP3CONVERTER_FFMPEG"}, def: "ffmpeg", shape: both, roles: Converter,
		usage: "ffmpeg binary", field: func(c *Config) flag.Value { return cmdflag.String(&c.FFmpeg) }},
	{flag: "ffprobe", env: []string{"MP3CONVERTER_FFPROBE"}, def: "ffprobe", shape: both, roles: Converter,
		usage: "ffprobe binary", field: func(c *Config) flag.Value { return cmdflag.String(&c.FFprobe) }},
}

// forms lists the URL forms of setting's engines.
func forms(setting string) string {
	var out []string
	for _, en := range engines {
		if en.setting == setting {
			out = append(out, en.form)
		}
	}
	return strings.Join(out, ", ")
}

// envOf is the environment variable of a URL setting.
func envOf(setting string) string { return urlEnv[setting] }

var urlEnv = map[string]string{
	databaseURL: "MP3CONVERTER_DATABASE_URL",
	queueURL:    "MP3CONVERTER_QUEUE_URL",
	storageURL:  "MP3CONVERTER_STORAGE_URL",
}

// uses reports whether process p reads setting s.
func (p Process) uses(s setting) bool { return p.Shape&s.shape != 0 && p.Roles.Has(s.roles) }

// Validate checks the settings p uses and names every bad one.
func (c *Config) Validate(p Process) error {
	var bad []string
	for _, s := range settings {
		if !p.uses(s) || s.check == nil {
			continue
		}
		msg := s.check(c, p)
		if msg == "" {
			continue
		}
		switch name, v := s.env[0], s.field(c); {
		case strings.HasPrefix(msg, "is "):
			bad = append(bad, name+" "+msg)
		case cmdflag.IsSecret(v):
			bad = append(bad, name+": "+msg)
		default:
			bad = append(bad, fmt.Sprintf("%s=%q: %s", name, v.String(), msg))
		}
	}
	if len(bad) > 0 {
		return cmdflag.Usagef("bad setting: %s", strings.Join(bad, "; "))
	}
	return nil
}

// seedDatabaseURL builds the database URL from the seed's MYSQL_* variables.
func seedDatabaseURL() string {
	if os.Getenv("MYSQL_HOST") == "" {
		return ""
	}
	return mysql.URLFromSeedEnv(os.Getenv("MYSQL_HOST"), os.Getenv("MYSQL_PORT"), os.Getenv("MYSQL_USER"),
		os.Getenv("MYSQL_PASSWORD"), cmp.Or(os.Getenv("MYSQL_DB"), "auth"))
}

// placeholderSecrets are JWT secrets that must never sign tokens.
var placeholderSecrets = []string{"change-me", "changeme", "change_me", "secret", "jwt_secret", "jwt-secret", "jwtsecret",
	"sarcasm", "password", "default", "your-secret", "your_secret", "mysecret", "supersecret", "replace-me", "todo"}

// checkJWTSecret refuses empty, short and placeholder secrets.
func checkJWTSecret(s string) string {
	switch {
	case s == "":
		return "is not set: give the same long random secret to auth and gateway"
	case len(s) < auth.MinSecretLength:
		return fmt.Sprintf("too short (%d characters, want %d or more)", len(s), auth.MinSecretLength)
	}
	norm := strings.ToLower(strings.TrimSpace(s))
	for _, p := range placeholderSecrets {
		if strings.Contains(norm, p) && len(norm) < len(p)+12 {
			return "looks like a placeholder; use a long random value"
		}
	}
	return ""
}

func notEmpty(s string) string {
	if s == "" {
		return "is empty"
	}
	return ""
}

func hostPort(s, example string) string {
	if _, _, err := net.SplitHostPort(s); err != nil {
		return "want host:port, e.g. " + example
	}
	return ""
}

func atLeastOne(n int) string {
	if n < 1 {
		return "want 1 or more"
	}
	return ""
}

func positive[T bytesize.Size | time.Duration](v T) string {
	if v <= 0 {
		return "must be positive"
	}
	return ""
}

func notNegative(d time.Duration) string {
	if d < 0 {
		return "must not be negative"
	}
	return ""
}

func oneOf(s string, choices ...string) string {
	for _, c := range choices {
		if s == c {
			return ""
		}
	}
	return "want " + strings.Join(choices[:len(choices)-1], ", ") + " or " + choices[len(choices)-1]
}

// errText is the message of a constructor's error, or "".
func errText[T any](_ T, err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
