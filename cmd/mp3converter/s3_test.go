//go:build integration

package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestIntegrationServeS3: serve with its media in S3 (versitygw) and
// everything else in its data dir runs the seed's curl flow; the video and
// the MP3 are objects of the bucket, videos/ID and mp3s/ID, and nothing of
// them is in the data dir.
func TestIntegrationServeS3(t *testing.T) {
	s3srv := testsupport.S3(t)
	t.Setenv("AWS_ACCESS_KEY_ID", testsupport.S3AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testsupport.S3SecretKey)
	cfg := testConfig(t)
	cfg.StorageURL = s3srv.URL
	cfg.KeepVideos = true
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	ann := login(t, srv.URL, "ann@example.com", "ann-password")
	acc := ann.upload(testmedia.Make(t, testmedia.MP4, 3), "clip.mp4")
	j := ann.waitJob(acc.JobID, time.Minute)
	if j.Status != "done" {
		t.Fatalf("job %s: %s", j.Status, deref(j.Error))
	}
	mp3, resp := ann.download(*j.MP3FID, t.TempDir())
	if resp.Header.Get("Content-Type") != "audio/mpeg" {
		t.Errorf("download: %s", resp.Header.Get("Content-Type"))
	}
	if format, d := testmedia.Probe(t, mp3); format != "mp3" || d < 2.9 || d > 3.1 {
		t.Errorf("the download: %s of %.2f s, want an MP3 of 3 s", format, d)
	}
	for kind, id := range map[string]string{"videos": acc.VideoFID, "mp3s": *j.MP3FID} {
		objects, _ := filepath.Glob(filepath.Join(s3srv.DataDir, "*", kind, id))
		if len(objects) != 1 {
			t.Errorf("%s/%s: %d objects in the bucket, want 1", kind, id, len(objects))
		}
		if _, err := os.Stat(filepath.Join(cfg.DataDir, kind)); err == nil {
			t.Errorf("serve made %s/ in its data dir, though its media are in S3", kind)
		}
	}
	// The bucket is a readiness check, and a gauge.
	waitReady(t, srv.URL, 5*time.Second)
	if up := testsupport.Scrape(t, srv.URL+"/metrics").Value("mp3converter_engine_up", "engine", "storage"); up != 1 {
		t.Errorf("mp3converter_engine_up{engine=storage} = %v, want 1", up)
	}
}
