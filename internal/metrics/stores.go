package metrics

import (
	"cmp"
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mp3converter/mp3converter"
)

// Stores are what the gauges read when scraped. Their reading is cached for
// MaxAge, so that scrapes, however frequent or many, cost the database and
// the broker a few queries per MaxAge at most.
type Stores struct {
	Jobs   mp3converter.JobCounter   // nil: no job gauges
	Queue  mp3converter.QueueCounter // nil: no queue gauges
	Queues []string                  // the queues whose depth and dead letters are shown
	MaxAge time.Duration             // 5 s if 0
}

var (
	jobsDesc = prometheus.NewDesc(ns+"_jobs", "Jobs in the job store, by status.", []string{"status"}, nil)
	ageDesc  = prometheus.NewDesc(ns+"_oldest_queued_job_age_seconds",
		"Age of the oldest queued job, from the job store (0 when none waits): how long the backlog has waited, whatever the queue engine.", nil, nil)
	depthDesc = prometheus.NewDesc(ns+"_queue_depth",
		"Messages ready on a queue, from the queue engine: not held by a consumer, not waiting out a retry's backoff.", []string{"queue"}, nil)
	deadDesc = prometheus.NewDesc(ns+"_dead_letters", "Messages on a queue's dead-letter queue.", []string{"queue"}, nil)
)

// statuses are shown even when no job has them, so that the series exist.
var statuses = []mp3converter.JobStatus{mp3converter.JobQueued, mp3converter.JobProcessing, mp3converter.JobDone, mp3converter.JobFailed}

// WatchStores adds the gauges that s reads to m.
func (m *Metrics) WatchStores(s Stores) {
	if m != nil {
		m.reg.MustRegister(&storeCollector{s: s})
	}
}

// storeCollector reads the stores at most once per MaxAge.
type storeCollector struct {
	s Stores

	mu   sync.Mutex
	at   time.Time
	last reading
}

// reading is one look at the stores.
type reading struct {
	jobs    mp3converter.JobStats
	jobsErr error
	depth   map[string]int // by queue; dead letters under DeadLetterQueue(q)
	qErr    error
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{jobsDesc, ageDesc, depthDesc, deadDesc} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.read()
	if c.s.Jobs != nil {
		c.collectJobs(ch, r)
	}
	if c.s.Queue == nil {
		return
	}
	if r.qErr != nil {
		ch <- prometheus.NewInvalidMetric(depthDesc, r.qErr)
		return
	}
	for _, q := range c.s.Queues {
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(r.depth[q]), q)
		ch <- prometheus.MustNewConstMetric(deadDesc, prometheus.GaugeValue, float64(r.depth[mp3converter.DeadLetterQueue(q)]), q)
	}
}

func (c *storeCollector) collectJobs(ch chan<- prometheus.Metric, r reading) {
	if r.jobsErr != nil {
		ch <- prometheus.NewInvalidMetric(jobsDesc, r.jobsErr)
		return
	}
	for _, st := range statuses {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(r.jobs.ByStatus[st]), string(st))
	}
	var age float64
	if t := r.jobs.OldestQueued; !t.IsZero() {
		age = max(time.Since(t).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, age)
}

// read returns the cached reading, or a new one once it is MaxAge old.
// Concurrent scrapes wait for one reading rather than each making theirs.
func (c *storeCollector) read() reading {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < cmp.Or(c.s.MaxAge, 5*time.Second) {
		return c.last
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var r reading
	if c.s.Jobs != nil {
		r.jobs, r.jobsErr = c.s.Jobs.JobStats(ctx)
	}
	if c.s.Queue != nil {
		r.depth, r.qErr = c.depths(ctx)
	}
	// A failed reading is cached too: a database that is down is not
	// asked again at every scrape.
	c.last, c.at = r, time.Now()
	return r
}

// depths counts the messages of each queue and of its dead letters.
func (c *storeCollector) depths(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for _, q := range c.s.Queues {
		for _, name := range []string{q, mp3converter.DeadLetterQueue(q)} {
			n, err := c.s.Queue.Depth(ctx, name)
			if err != nil {
				return nil, err
			}
			out[name] = n
		}
	}
	return out, nil
}
