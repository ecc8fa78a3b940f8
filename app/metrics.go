package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/httpapi"
	"github.com/mp3converter/mp3converter/internal/metrics"
)

// newMetrics makes the process's metrics. A process with the gateway role
// also shows the gauges read from the job store and the queue, which every
// process shares: one role shows them, so that they are not repeated by
// every process of a cluster.
func (m *Main) newMetrics() {
	m.Metrics = metrics.New()
	checks := map[string]func(context.Context) error{}
	for _, c := range m.Engines.checks {
		checks[c.Name] = c.Check
	}
	m.Metrics.WatchEngines(checks)
	if !m.Process.Roles.Has(Gateway) {
		return
	}
	e, c := m.Engines, &m.Config
	s := metrics.Stores{}
	s.Jobs, _ = e.Jobs.(mp3converter.JobCounter)
	s.Queue, _ = e.Queue.(mp3converter.QueueCounter)
	for _, q := range []string{c.VideoQueue, c.MP3Queue} {
		if q != "" && !slices.Contains(s.Queues, q) {
			s.Queues = append(s.Queues, q)
		}
	}
	m.Metrics.WatchStores(s)
}

// metricsOff is --metrics-addr's value that serves no /metrics.
const metricsOff = "off"

// withMetrics serves /metrics beside h, on the process's own listener,
// unless --metrics-addr moves it elsewhere or turns it off. It is not
// behind h's middleware: scrapes are neither logged nor timed.
func (m *Main) withMetrics(h http.Handler) http.Handler {
	if m.Config.MetricsAddr != "" {
		return h
	}
	mh := m.Metrics.Handler(m.Logger)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" {
			mh.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// listenMetrics serves /metrics on a listener of its own when
// --metrics-addr names an address: off the gateway's public port.
func (m *Main) listenMetrics() error {
	addr := m.Config.MetricsAddr
	if addr == "" || addr == metricsOff {
		return nil
	}
	ln, err := m.listenTCP(addr)
	if err != nil {
		return fmt.Errorf("listen on %s (MP3CONVERTER_METRICS_ADDR): %w", addr, err)
	}
	m.MetricsAddr = ln.Addr().String()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Metrics.Handler(m.Logger))
	srv := httpapi.NewServer(mux, m.serverLimits())
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("MetricsServerFailed", "err", err)
		}
	}()
	m.closers = append(m.closers, func() { srv.Close() })
	return nil
}
