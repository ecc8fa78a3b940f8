package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestJobsKeptCap: with --max-jobs-kept-per-user 3, ann's 3 uploads are
// accepted (empty files: their jobs fail, and still count) and her 4th is
// refused with 429 without Retry-After, before its body is read, leaving no
// job and no file, and counted as a "quota" refusal; bob's upload is not
// hers to count; once she deletes a job, she uploads again.
func TestJobsKeptCap(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxJobsKept = 3
	srv := startServe(t, cfg)
	srv.addUser(t, "ann@example.com", "ann-password", false)
	srv.addUser(t, "bob@example.com", "bob-password", false)
	ann := login(t, srv.URL, "ann@example.com", "ann-password")
	bob := login(t, srv.URL, "bob@example.com", "bob-password")
	empty := testmedia.Empty(t)
	videos := filepath.Join(cfg.DataDir, "videos")

	var ids []string
	for i := range 3 {
		ids = append(ids, ann.upload(empty, fmt.Sprintf("empty-%d.mp4", i+1)).JobID)
	}
	for _, id := range ids {
		if j := ann.waitJob(id, time.Minute); j.Status != "failed" {
			t.Fatalf("empty upload's job: %s, want failed", j.Status)
		}
	}
	filesBefore := len(files(t, videos))
	metricsBefore := testsupport.Scrape(t, srv.URL+"/metrics")
	start := time.Now()
	resp, msg := ann.uploadStatus(empty, "empty-4.mp4")
	took := time.Since(start)
	const want = "you keep 3 jobs, the most allowed; delete some to upload more"
	if resp.StatusCode != http.StatusTooManyRequests || msg != want || resp.Header.Get("Retry-After") != "" {
		t.Errorf("ann's 4th upload: %s %q Retry-After %q; want 429 %q without Retry-After", resp.Status, msg, resp.Header.Get("Retry-After"), want)
	}
	jobs, filesAfter := len(ann.jobs("")), len(files(t, videos))
	if jobs != 3 || filesAfter != filesBefore {
		t.Errorf("after the refusal: %d jobs, %d files (%d before); want 3 jobs and no new file", jobs, filesAfter, filesBefore)
	}
	refused := testsupport.Scrape(t, srv.URL+"/metrics").Value("mp3converter_uploads_refused_total", "reason", "quota") -
		metricsBefore.Value("mp3converter_uploads_refused_total", "reason", "quota")
	if refused != 1 {
		t.Errorf("uploads refused for quota: %v more, want 1", refused)
	}
	rows := [][]string{{"ann's 4th upload, 3 jobs kept (cap 3)", fmt.Sprintf("%d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After")), msg,
		fmt.Sprintf("%d jobs, %d files before and after; answered in %v", jobs, filesAfter, took.Round(time.Millisecond))}}

	bob.upload(empty, "bob.mp4")
	rows = append(rows, []string{"bob's upload meanwhile", "202", "accepted", ""})
	ann.deleteJob(ids[0])
	ann.upload(empty, "empty-5.mp4")
	rows = append(rows, []string{"ann's upload once she deleted a job", "202", "accepted", ""})
	if resp, msg := ann.uploadStatus(empty, "empty-6.mp4"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("ann's upload at the cap again: %s %q, want 429", resp.Status, msg)
	}
	report(t, "jobs-kept-cap.md", "| request | status, Retry-After | message | figures |\n|---|---|---|---|\n", rows)
}
