package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/metrics"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// fakeStores count how often they are asked, and answer stats or err.
type fakeStores struct {
	asked atomic.Int32
	stats mp3converter.JobStats
	err   error
}

func (f *fakeStores) JobStats(context.Context) (mp3converter.JobStats, error) {
	f.asked.Add(1)
	return f.stats, f.err
}

func (f *fakeStores) Depth(_ context.Context, queue string) (int, error) {
	if queue == mp3converter.DeadLetterQueue("video") {
		return 2, nil
	}
	return 7, nil
}

func scrape(t *testing.T, m *metrics.Metrics) testsupport.Metrics {
	t.Helper()
	srv := httptest.NewServer(m.Handler(slog.New(slog.DiscardHandler)))
	defer srv.Close()
	return testsupport.Scrape(t, srv.URL)
}

// The gauges read the stores when scraped, once per MaxAge however many
// scrapes come; a store that fails leaves its gauges out, not the rest.
func TestStoreGauges(t *testing.T) {
	f := &fakeStores{stats: mp3converter.JobStats{ByStatus: map[mp3converter.JobStatus]int{mp3converter.JobQueued: 3, mp3converter.JobDone: 5},
		OldestQueued: time.Now().Add(-time.Minute)}}
	m := metrics.New()
	m.WatchStores(metrics.Stores{Jobs: f, Queue: f, Queues: []string{"video"}, MaxAge: time.Hour})
	got := scrape(t, m)
	for _, c := range []struct {
		name  string
		label []string
		want  float64
	}{
		{"mp3converter_jobs", []string{"status", "queued"}, 3},
		{"mp3converter_jobs", []string{"status", "done"}, 5},
		{"mp3converter_jobs", []string{"status", "failed"}, 0},
		{"mp3converter_queue_depth", []string{"queue", "video"}, 7},
		{"mp3converter_dead_letters", []string{"queue", "video"}, 2},
	} {
		if v := got.Value(c.name, c.label...); v != c.want || !got.Has(c.name, c.label...) {
			t.Errorf("%s%v = %v, want %v", c.name, c.label, v, c.want)
		}
	}
	if age := got.Value("mp3converter_oldest_queued_job_age_seconds"); age < 59 || age > 120 {
		t.Errorf("oldest queued job's age %v, want about 60", age)
	}
	scrape(t, m)
	if n := f.asked.Load(); n != 1 {
		t.Errorf("two scrapes asked the job store %d times, want once", n)
	}

	broken := &fakeStores{err: errors.New("database down")}
	m = metrics.New()
	m.WatchStores(metrics.Stores{Jobs: broken, Queue: broken, Queues: []string{"video"}})
	m.Conversion(2*time.Second, 60)
	got = scrape(t, m)
	if got.Has("mp3converter_jobs") || got.Value("mp3converter_queue_depth", "queue", "video") != 7 {
		t.Errorf("with the job store down: jobs shown %v, queue depth %v", got.Has("mp3converter_jobs"),
			got.Value("mp3converter_queue_depth", "queue", "video"))
	}
	if got.Value("mp3converter_conversion_seconds_count") != 1 || got.Value("mp3converter_conversion_realtime_factor_sum") != 30 {
		t.Errorf("conversion count %v, realtime factor sum %v; want 1 and 30", got.Value("mp3converter_conversion_seconds_count"),
			got.Value("mp3converter_conversion_realtime_factor_sum"))
	}
}

// A nil *Metrics counts nothing and does not panic: roles built without one.
// Nothing it is told reaches a registry, neither the global one nor another
// process's, and it asks no store.
func TestNilMetrics(t *testing.T) {
	live := metrics.New() // another process's, in the same binary
	stores := &fakeStores{}
	var m *metrics.Metrics
	m.UploadBytes(1)
	m.UploadAccepted()
	m.UploadRefused("too_large")
	m.Login("ok")
	m.Conversion(time.Second, 1)
	m.Mail(time.Second, nil)
	m.WebhookDelivery("delivered")
	m.HTTPRequest("GET /", 200, time.Second)
	m.WatchStores(metrics.Stores{Jobs: stores, Queue: stores, Queues: []string{"video"}})
	m.WatchEngines(map[string]func(context.Context) error{"database": func(context.Context) error { return nil }})

	for name, f := range scrape(t, live) {
		if !strings.HasPrefix(name, "mp3converter_") {
			continue // the Go runtime's and the process's
		}
		for _, s := range f.GetMetric() {
			if v := s.GetCounter().GetValue() + s.GetGauge().GetValue() + float64(s.GetHistogram().GetSampleCount()); v != 0 {
				t.Errorf("another Metrics shows %s%v = %v after calls on a nil one", name, s.GetLabel(), v)
			}
		}
	}
	fams, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "mp3converter_") {
			t.Errorf("the global registry has %s", f.GetName())
		}
	}
	if n := stores.asked.Load(); n != 0 {
		t.Errorf("the stores were asked %d times", n)
	}
}

// mp3converter_engine_up shows each readiness check, 1 or 0, and asks the
// checks at most every 5 s however often it is scraped.
func TestEngineUp(t *testing.T) {
	m := metrics.New()
	var asked atomic.Int32
	m.WatchEngines(map[string]func(context.Context) error{
		"database": func(context.Context) error { asked.Add(1); return nil },
		"storage":  func(context.Context) error { return fmt.Errorf("s3 ping: %w", mp3converter.ErrUnavailable) },
	})
	for range 3 {
		got := scrape(t, m)
		if got.Value("mp3converter_engine_up", "engine", "database") != 1 || got.Value("mp3converter_engine_up", "engine", "storage") != 0 {
			t.Fatalf("engine_up: database %v, storage %v; want 1 and 0",
				got.Value("mp3converter_engine_up", "engine", "database"), got.Value("mp3converter_engine_up", "engine", "storage"))
		}
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("3 scrapes asked the check %d times, want 1", n)
	}
}
