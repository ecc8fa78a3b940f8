package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var engineUpDesc = prometheus.NewDesc(ns+"_engine_up",
	"Whether an engine of this process answers its readiness check (1) or not (0): the database, queue, storage (local files, GridFS or S3), free space.",
	[]string{"engine"}, nil)

// WatchEngines adds the gauge mp3converter_engine_up, one series per
// check, each the readiness check /readyz runs: so that an outage of the
// storage, say, shows on a dashboard. Checks run at most every 5 s however
// often they are scraped.
func (m *Metrics) WatchEngines(checks map[string]func(context.Context) error) {
	if m != nil && len(checks) > 0 {
		m.reg.MustRegister(&engineCollector{checks: checks})
	}
}

type engineCollector struct {
	checks map[string]func(context.Context) error

	mu   sync.Mutex
	at   time.Time
	last map[string]bool
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) { ch <- engineUpDesc }

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	for name, up := range c.read() {
		v := 0.0
		if up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(engineUpDesc, prometheus.GaugeValue, v, name)
	}
}

func (c *engineCollector) read() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last != nil && time.Since(c.at) < 5*time.Second {
		return c.last
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	up := map[string]bool{}
	for name, check := range c.checks {
		up[name] = check(ctx) == nil
	}
	c.last, c.at = up, time.Now()
	return up
}
