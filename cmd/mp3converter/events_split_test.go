//go:build integration

package main

import (
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestIntegrationEventsSplit: in the split deployment (MySQL, RabbitMQ,
// GridFS), a converter in another process reports progress in the job
// store, and the gateway's poller streams it: the upload's stream sees the
// job converting with progress, then done with its mp3_fid.
func TestIntegrationEventsSplit(t *testing.T) {
	c := newCluster(t, testsupport.Broker(t))
	email := testsupport.RandomName("user-") + "@example.com"
	c.addUser(email, "events-password")
	c.start("auth", "auth")
	c.start("gateway", "gateway", "MP3CONVERTER_EVENTS_POLL_INTERVAL=100ms")
	// In one pass: progress is written once a second, and lanes convert
	// this clip in under two.
	c.start("converter", "converter", "MP3CONVERTER_WORKERS=1", "MP3CONVERTER_PARALLEL_ABOVE=0")
	cl := login(t, c.gateway, email, "events-password")

	s := openEvents(t, cl, "")
	id := cl.upload(testmedia.Make(t, testmedia.MKV, 240), "clip.mkv").JobID
	ev, before := s.waitFor("the clip converting", time.Minute, jobEvent(t, id, func(j jobView) bool {
		return j.Status == "processing" && j.Progress > 0 && j.Progress < 1
	}))
	t.Logf("progress %.2f after %d events", ev.job(t).Progress, len(before))
	done, _ := s.waitFor("the clip done", 2*time.Minute, jobEvent(t, id, func(j jobView) bool { return j.Status != "processing" }))
	if j := done.job(t); j.Status != "done" || j.MP3FID == nil || j.DownloadURL != "/download?fid="+*j.MP3FID {
		t.Errorf("last event: %+v, want done with its mp3_fid", j)
	}
}
