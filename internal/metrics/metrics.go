// Package metrics is what operators watch: one Prometheus registry per
// process (never the global one, so that several processes can share a test
// binary), the counters and histograms its roles feed, the gauges read from
// the job store and the queue when scraped (see Stores), and the Go and
// process collectors.
//
// Roles get a *Metrics. Every method does nothing on nil, so a role built
// without one, in a test, needs nothing. Labels take values from small,
// fixed sets (outcomes, reasons, route patterns, status classes, queue
// names), never a user, a job or a file.
package metrics

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are one process's metrics.
type Metrics struct {
	reg *prometheus.Registry

	uploadBytes     prometheus.Counter
	uploadsAccepted prometheus.Counter
	uploadsRefused  *prometheus.CounterVec // reason
	logins          *prometheus.CounterVec // outcome
	conversion      prometheus.Histogram
	realtime        prometheus.Histogram
	mails           *prometheus.CounterVec // outcome
	mailSeconds     prometheus.Histogram
	webhooks        *prometheus.CounterVec   // outcome
	httpSeconds     *prometheus.HistogramVec // route, code
}

const ns = "mp3converter"

// New returns a process's metrics in a registry of their own, with the Go
// runtime's and the process's collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "upload_bytes_total",
			Help: "Bytes of uploaded files received, accepted or not."}),
		uploadsAccepted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "uploads_accepted_total",
			Help: "Uploads stored and queued as jobs."}),
		uploadsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "uploads_refused_total",
			Help: "Uploads refused, by reason."}, []string{"reason"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "logins_total",
			Help: "Login attempts, by outcome, counted once by the process that decided them."}, []string{"outcome"}),
		conversion: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "conversion_seconds",
			Help:    "Wall-clock seconds of successful conversions: fetch, probe, ffmpeg and storing the MP3.",
			Buckets: []float64{0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600}}),
		realtime: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "conversion_realtime_factor",
			Help:    "Audio seconds produced per wall-clock second of a successful conversion.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000}}),
		mails: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "mails_total",
			Help: "Notices handed to the notifier (SMTP, or the log without one), by outcome: sent or failed."}, []string{"outcome"}),
		mailSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "mail_send_seconds",
			Help:    "Seconds the notifier took to send a notice, sent or failed.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "webhook_deliveries_total",
			Help: "Webhook delivery attempts, by outcome: delivered, retry (failed, tried again later) or failed (given up)."},
			[]string{"outcome"}),
		httpSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "http_request_duration_seconds",
			Help:    "Seconds to answer HTTP requests, by route pattern and status class.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}}, []string{"route", "code"}),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.uploadBytes, m.uploadsAccepted, m.uploadsRefused, m.logins, m.conversion, m.realtime,
		m.mails, m.mailSeconds, m.webhooks, m.httpSeconds)
	// Every series starts at 0, so that rates and dashboards see the first
	// event rather than a series appearing from nowhere.
	for _, v := range []struct {
		vec    *prometheus.CounterVec
		values []string
	}{{m.uploadsRefused, RefusalReasons}, {m.logins, LoginOutcomes}, {m.mails, []string{"sent", "failed"}},
		{m.webhooks, []string{"delivered", "retry", "failed"}}} {
		for _, value := range v.values {
			v.vec.WithLabelValues(value)
		}
	}
	return m
}

// RefusalReasons are the reasons an upload is refused (see UploadRefused).
var RefusalReasons = []string{"unauthorized", "too_large", "throttled", "quota", "too_slow", "aborted", "no_space",
	"bad_request", "unavailable", "error"}

// LoginOutcomes are the outcomes of a login (see Login).
var LoginOutcomes = []string{"ok", "invalid_credentials", "missing_credentials", "throttled", "unavailable", "canceled", "error"}

// Handler serves the metrics in Prometheus's text format. A collector that
// fails (the job store down) is logged and left out; the rest is served.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// Registry is where the metrics are, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// UploadBytes counts n bytes of an uploaded file received.
func (m *Metrics) UploadBytes(n int64) {
	if m != nil && n > 0 {
		m.uploadBytes.Add(float64(n))
	}
}

// UploadAccepted counts an upload that became a job.
func (m *Metrics) UploadAccepted() {
	if m != nil {
		m.uploadsAccepted.Inc()
	}
}

// UploadRefused counts an upload refused for reason, one of RefusalReasons.
func (m *Metrics) UploadRefused(reason string) {
	if m != nil {
		m.uploadsRefused.WithLabelValues(reason).Inc()
	}
}

// Login counts a login attempt's outcome, one of LoginOutcomes.
func (m *Metrics) Login(outcome string) {
	if m != nil {
		m.logins.WithLabelValues(outcome).Inc()
	}
}

// Conversion records a successful conversion that took wall time and made
// audio seconds of MP3.
func (m *Metrics) Conversion(wall time.Duration, audio float64) {
	if m == nil {
		return
	}
	m.conversion.Observe(wall.Seconds())
	if wall > 0 && audio > 0 {
		m.realtime.Observe(audio / wall.Seconds())
	}
}

// Mail records a notice sent, or failed with err, in d.
func (m *Metrics) Mail(d time.Duration, err error) {
	if m == nil {
		return
	}
	outcome := "sent"
	if err != nil {
		outcome = "failed"
	}
	m.mails.WithLabelValues(outcome).Inc()
	m.mailSeconds.Observe(d.Seconds())
}

// WebhookDelivery counts a delivery attempt's outcome: delivered, retry or
// failed.
func (m *Metrics) WebhookDelivery(outcome string) {
	if m != nil {
		m.webhooks.WithLabelValues(outcome).Inc()
	}
}

// HTTPRequest records a request answered with status in d. route is the
// ServeMux pattern that matched ("GET /jobs/{id}"), never the path, so that
// the series stay few; "" is an unmatched request.
func (m *Metrics) HTTPRequest(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	if status == 0 {
		status = http.StatusOK // nothing written: net/http answers 200
	}
	m.httpSeconds.WithLabelValues(route, strconv.Itoa(status/100)+"xx").Observe(d.Seconds())
}
