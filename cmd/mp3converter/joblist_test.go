package main

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
)

// TestJobListPages pages through GET /jobs by its Link header, filters it
// by name and status, and refuses bad cursors and names; every answer is
// checked against docs/openapi.yaml.
func TestJobListPages(t *testing.T) {
	s := startServe(t, testConfig(t))
	s.addUser(t, "ann@example.com", "ann-password", false)
	s.addUser(t, "bob@example.com", "bob-password", false)
	seedJobs(t, s, "bob@example.com", 1, "bob holiday")
	want := seedJobs(t, s, "ann@example.com", 7, "Holiday")
	c := login(t, s.URL, "ann@example.com", "ann-password")

	var got []string
	next := "/jobs?limit=3"
	for next != "" {
		resp, b := do(t, c.request("GET", next, nil))
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %s %s", next, resp.Status, b)
		}
		page := c.jobs(strings.TrimPrefix(next, "/jobs"))
		for _, j := range page {
			got = append(got, j.Filename)
		}
		next = nextLink(t, resp.Header.Get("Link"))
		if next == "" && len(page) == 3 && len(got) != len(want) {
			t.Errorf("a full page with no Link after %d jobs", len(got))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged by Link: %q, want %q", got, want)
	}

	if js := c.jobs("?q=" + url.QueryEscape("  HOLIDAY 6 ")); len(js) != 1 || js[0].Filename != "Holiday 6.mp4" {
		t.Errorf("?q=HOLIDAY 6: %v", js)
	}
	if js := c.jobs("?q=bob"); len(js) != 0 {
		t.Errorf("?q=bob found another user's jobs: %v", js)
	}
	if js := c.jobs("?status=failed&q=holiday"); len(js) != 3 {
		t.Errorf("?status=failed&q=holiday: %d jobs, want 3", len(js))
	}
	for _, bad := range []string{"?before=x", "?before=123.nothex", "?before=-1.6b08de244648dd0d773a1f61", "?q=" + strings.Repeat("a", 201)} {
		resp, b := do(t, c.request("GET", "/jobs"+bad, nil))
		if resp.StatusCode != 400 {
			t.Errorf("GET /jobs%.40s: %s %s, want 400", bad, resp.Status, b)
		}
	}
}

// seedJobs stores n jobs of owner straight in the store, a second apart,
// every other one failed, and returns their names newest first.
func seedJobs(t *testing.T, s *testServer, owner string, n int, name string) []string {
	t.Helper()
	var names []string
	at := time.Now().Add(-time.Hour)
	for i := range n {
		j := &mp3converter.Job{ID: mp3converter.NewID(), Owner: owner, Filename: fmt.Sprintf("%s %d.mp4", name, i),
			VideoFID: mp3converter.NewID(), Size: 1000, CreatedAt: at.Add(time.Duration(i) * time.Second), Status: mp3converter.JobDone}
		if i%2 == 1 {
			j.Status, j.Error = mp3converter.JobFailed, "the video has no audio track"
		}
		if err := s.Engines.Jobs.CreateJob(context.Background(), j); err != nil {
			t.Fatal(err)
		}
		names = append([]string{j.Filename}, names...)
	}
	return names
}

var linkNext = regexp.MustCompile(`^<(/jobs\?[^>]*)>; rel="next"$`)

// nextLink is the URL of a Link header's next page, or "".
func nextLink(t *testing.T, link string) string {
	t.Helper()
	if link == "" {
		return ""
	}
	m := linkNext.FindStringSubmatch(link)
	if m == nil {
		t.Fatalf("Link: %q", link)
	}
	return m[1]
}
