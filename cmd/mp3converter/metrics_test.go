package main

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// roleMetrics are the /metrics URLs of a deployment, by role: in serve,
// all the same.
type roleMetrics map[string]string

var roleNames = []string{"gateway", "auth", "converter", "notification"}

func (r roleMetrics) scrape(t *testing.T) map[string]testsupport.Metrics {
	t.Helper()
	out := map[string]testsupport.Metrics{}
	for role, url := range r {
		out[role] = testsupport.Scrape(t, url)
	}
	return out
}

// TestMetricsServe runs a job end to end in serve and checks that /metrics,
// on its one port, shows each role's part of it.
func TestMetricsServe(t *testing.T) {
	s := startServe(t, testConfig(t))
	s.addUser(t, "ann@example.com", "ann-password", false)
	urls := roleMetrics{}
	for _, role := range roleNames {
		urls[role] = s.URL + "/metrics"
	}
	before := urls.scrape(t)
	size := metricsFlow(t, s.URL, "ann@example.com", "ann-password")
	checkFlowMetrics(t, urls, before, size)
}

// metricsFlow is what the metrics tests do: a wrong password, a login, and
// an upload converted. It returns the uploaded file's size.
func metricsFlow(t *testing.T, base, email, password string) int64 {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/login", nil)
	req.SetBasicAuth(email, password+"-wrong")
	if resp, body := do(t, req); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login with a wrong password: %s %s", resp.Status, body)
	}
	c := login(t, base, email, password)
	src := testmedia.Make(t, testmedia.MKV, 3)
	info, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if j := c.waitJob(c.upload(src, "clip.mkv").JobID, 2*time.Minute); j.Status != "done" {
		t.Fatalf("job %s: %s", j.Status, deref(j.Error))
	}
	return info.Size()
}

// checkFlowMetrics checks that metricsFlow moved each role's metrics, by
// about what it did. The gauges read from the stores lag up to 5 s (their
// cache), and the mail is sent after the job is done: it waits for them.
func checkFlowMetrics(t *testing.T, urls roleMetrics, before map[string]testsupport.Metrics, size int64) {
	t.Helper()
	var after map[string]testsupport.Metrics
	testsupport.Eventually(t, 30*time.Second, "the job done, its mail sent and the queues empty in /metrics", func() bool {
		after = urls.scrape(t)
		gw, nt := after["gateway"], after["notification"]
		return gw.Value("mp3converter_jobs", "status", "done") == before["gateway"].Value("mp3converter_jobs", "status", "done")+1 &&
			nt.Value("mp3converter_mails_total", "outcome", "sent") > before["notification"].Value("mp3converter_mails_total", "outcome", "sent") &&
			gw.Value("mp3converter_queue_depth", "queue", "video") == 0 && gw.Value("mp3converter_queue_depth", "queue", "mp3") == 0
	})
	for _, c := range []struct {
		role, name string
		labels     []string
		delta      float64
	}{
		{"gateway", "mp3converter_upload_bytes_total", nil, float64(size)},
		{"gateway", "mp3converter_uploads_accepted_total", nil, 1},
		{"gateway", "mp3converter_http_request_duration_seconds_count", []string{"route", "POST /upload", "code", "2xx"}, 1},
		{"auth", "mp3converter_logins_total", []string{"outcome", "ok"}, 1},
		{"auth", "mp3converter_logins_total", []string{"outcome", "invalid_credentials"}, 1},
		{"converter", "mp3converter_conversion_seconds_count", nil, 1},
		{"converter", "mp3converter_conversion_realtime_factor_count", nil, 1},
		{"notification", "mp3converter_mails_total", []string{"outcome", "sent"}, 1},
		{"notification", "mp3converter_mail_send_seconds_count", nil, 1},
	} {
		got := after[c.role].Value(c.name, c.labels...) - before[c.role].Value(c.name, c.labels...)
		if got != c.delta {
			t.Errorf("%s: %s%v moved by %v, want %v", c.role, c.name, c.labels, got, c.delta)
		}
	}
	gw := after["gateway"]
	if age := gw.Value("mp3converter_oldest_queued_job_age_seconds"); age != 0 || gw.Value("mp3converter_dead_letters", "queue", "video") != 0 {
		t.Errorf("oldest queued job %v s old, %v dead letters; want none", age, gw.Value("mp3converter_dead_letters", "queue", "video"))
	}
	for role, m := range after {
		if !m.Has("go_goroutines") || !m.Has("process_resident_memory_bytes") {
			t.Errorf("%s: no Go or process metrics", role)
		}
	}
}

// --metrics-addr moves /metrics off the main port to a listener of its
// own, or turns it off.
func TestMetricsAddr(t *testing.T) {
	cfg := testConfig(t)
	cfg.MetricsAddr = "127.0.0.1:0"
	s := startServe(t, cfg)
	if m := testsupport.Scrape(t, "http://"+s.MetricsAddr+"/metrics"); !m.Has("mp3converter_jobs", "status", "queued") {
		t.Error("no job gauges on the metrics listener")
	}
	cfg = testConfig(t)
	cfg.MetricsAddr = "off"
	off := startServe(t, cfg)
	for _, base := range []string{s.URL, off.URL} {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("/metrics on the main port, moved or off: %s, want 404", resp.Status)
		}
	}
}

// promName is a metric name as a PromQL expression spells it.
var promName = regexp.MustCompile(`\b((?:mp3converter|go|process)_[a-z0-9_]+)\b`)

// TestGrafanaDashboard checks that every metric that the dashboard's
// queries name is one that serve exports, so that the two cannot drift.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../../deploy/grafana/mp3converter.json")
	if err != nil {
		t.Fatal(err)
	}
	var dashboard any
	if err := json.Unmarshal(b, &dashboard); err != nil {
		t.Fatalf("deploy/grafana/mp3converter.json: %v", err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if e, ok := v["expr"].(string); ok {
				exprs = append(exprs, e)
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(dashboard)
	if len(exprs) < 10 {
		t.Fatalf("the dashboard has %d queries; want a panel for each metric", len(exprs))
	}

	s := startServe(t, testConfig(t))
	resp, err := http.Get(s.URL + "/healthz") // a request, so that its histogram has a series
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	exported := testsupport.Scrape(t, s.URL+"/metrics")
	for _, e := range exprs {
		for _, m := range promName.FindAllStringSubmatch(e, -1) {
			if name := m[1]; exported[name] == nil && !histogramSeries(exported, name) {
				t.Errorf("the dashboard queries %s (in %q), which serve does not export", name, e)
			}
		}
	}
}

// histogramSeries reports whether name is a series of an exported
// histogram: its _bucket, _count or _sum.
func histogramSeries(exported testsupport.Metrics, name string) bool {
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && exported[base].GetType() == dto.MetricType_HISTOGRAM {
			return true
		}
	}
	return false
}
