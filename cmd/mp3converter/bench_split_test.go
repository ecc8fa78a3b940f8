//go:build integration

package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// BenchmarkSplit times whole jobs of the 120 s clips in the split
// deployment (auth, gateway and a converter of 2 workers as processes, on
// MySQL and RabbitMQ), with its media in S3 (versitygw) and in GridFS on
// FerretDB side by side, against bare ffmpeg; see BenchmarkWholeJob for
// the metrics.
func BenchmarkSplit(b *testing.B) {
	for _, storage := range splitStorages {
		b.Run(storage, func(b *testing.B) {
			c, cl := benchCluster(b, storage)
			c.start("converter", "converter", "MP3CONVERTER_WORKERS=2")
			for _, clip := range wholeJobClips {
				if clip.seconds < 120 {
					continue
				}
				src := testmedia.MakeHD(b, clip.kind, clip.seconds)
				b.Run(clip.name, func(b *testing.B) { benchJobs(b, cl, src, clip.kind == testmedia.MP4MP3) })
			}
		})
	}
}

// splitStorages are the media storages the split benchmarks compare.
var splitStorages = []string{"s3", "gridfs"}

// BenchmarkSplitUploadMemory uploads 1 GiB through the gateway process of
// the split deployment into each storage and reports how much the
// gateway's resident memory grew: its peak (VmHWM) and its current size
// (VmRSS), from /proc, before and after. No converter runs.
func BenchmarkSplitUploadMemory(b *testing.B) {
	src := filepath.Join(b.TempDir(), "big.mp4")
	if err := os.Truncate(createFile(b, src), 1<<30); err != nil {
		b.Fatal(err)
	}
	for _, storage := range splitStorages {
		b.Run(storage, func(b *testing.B) {
			c, cl := benchCluster(b, storage)
			gateway := c.procs["gateway"].cmd.Process.Pid
			var hwm, rss float64
			for i := 0; i < b.N; i++ {
				hwm0, rss0 := procMemory(b, gateway)
				cl.upload(src, "big.mp4")
				hwm1, rss1 := procMemory(b, gateway)
				hwm, rss = max(hwm, hwm1-hwm0), max(rss, rss1-rss0)
			}
			b.ReportMetric(hwm, "peak-growth-MiB")
			b.ReportMetric(rss, "rss-growth-MiB")
		})
	}
}

// benchCluster starts auth and a gateway on the real engines, with media
// in storage ("s3", on a versitygw of its own, or "gridfs"), and logs a
// new user in.
func benchCluster(b *testing.B, storage string) (*cluster, *client) {
	c := newCluster(b, testsupport.Broker(b))
	if storage == "s3" {
		srv := testsupport.S3(b)
		b.Setenv("AWS_ACCESS_KEY_ID", testsupport.S3AccessKey)
		b.Setenv("AWS_SECRET_ACCESS_KEY", testsupport.S3SecretKey)
		c.storeURL = srv.URL
		c.env = setEnv(c.env, "MP3CONVERTER_STORAGE_URL", srv.URL)
	}
	c.env = append(c.env, "MP3CONVERTER_MAX_UPLOAD=2GiB", "MP3CONVERTER_LOG_LEVEL=warn")
	email := testsupport.RandomName("bench-") + "@example.com"
	c.addUser(email, "bench-password")
	c.start("auth", "auth")
	c.start("gateway", "gateway")
	return c, login(b, c.gateway, email, "bench-password")
}

// createFile creates an empty file and returns its path.
func createFile(b *testing.B, path string) string {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	f.Close()
	return path
}

// procMemory reads the peak and current resident set size of process pid,
// in MiB.
func procMemory(b *testing.B, pid int) (hwm, rss float64) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 64)
		switch key {
		case "VmHWM":
			hwm = kb / 1024
		case "VmRSS":
			rss = kb / 1024
		}
	}
	return hwm, rss
}
