package main

import (
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/app"
	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// BenchmarkParallelLong times whole jobs of a 60-minute source (an MP4
// holding AAC and a thumbnail picture) in serve, 2 workers on this
// machine's cores, against the bare command line, as BenchmarkWholeJob
// does: encoded in parallel (--parallel-above 5m: one job alone borrows
// the idle core), and in one pass (--parallel-above 0). job/cli is the
// issue's figure: at most 0.6 on 2 cores.
func BenchmarkParallelLong(b *testing.B) {
	src := testmedia.Make(b, testmedia.MP4, 3600)
	for _, tc := range []struct {
		name  string
		above time.Duration
	}{{"parallel", 5 * time.Minute}, {"one-pass", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			s := benchServeWith(b, func(cfg *app.Config) {
				cfg.ParallelAbove, cfg.MaxDuration, cfg.MaxPerUser = tc.above, 2*time.Hour, 0
			})
			benchJobs(b, benchUser(b, s, "bench@example.com"), src, false)
		})
	}
}
