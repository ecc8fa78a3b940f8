package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
)

// TestEventsReplayBounds: a cursor replays from the store only within the
// replay window and for at most 100 jobs. Last-Event-ID 1-x-0 (which
// replayed all of ann's 5,000 jobs) gets one refetch event, and the stream
// goes on live; a foreign cursor from before 150 jobs changed gets a
// refetch too; a recent foreign cursor with 3 jobs changed gets those 3;
// the refetch's own cursor replays from memory.
func TestEventsReplayBounds(t *testing.T) {
	cfg := testConfig(t)
	cfg.EventsPollInterval = 50 * time.Millisecond
	srv := startServe(t, cfg)
	users := map[string]*client{}
	for _, name := range []string{"ann", "bob", "cy", "dan"} {
		srv.addUser(t, name+"@example.com", name+"-password", false)
		users[name] = login(t, srv.URL, name+"@example.com", name+"-password")
	}
	hc := oneConnEach(t)
	create := func(owner string, n int) { createJobs(t, srv.Engines.Jobs, owner, n) }
	foreign := func(at time.Time) string { return strconv.FormatInt(at.UnixMicro(), 10) + "-zzzzzzzz-1" }
	// bob's stream tells when the feed has seen the jobs made before his.
	marker := tryEvents(t, hc, users["bob"], "")
	if marker.stream == nil {
		t.Fatalf("bob's stream: %d %q", marker.status, marker.msg)
	}
	beforeDan, beforeCy := time.Now(), time.Time{}
	start := time.Now()
	create("ann@example.com", 5000)
	create("dan@example.com", 150)
	beforeCy = time.Now()
	create("cy@example.com", 3)
	t.Logf("5,153 jobs made in %v", time.Since(start).Round(time.Millisecond))
	create("bob@example.com", 1)
	marker.stream.waitFor("bob's job", 30*time.Second, func(e sseEvent) bool { return e.Event == "job" })
	marker.stream.close()

	var rows [][]string
	// ann: the first cursor ever.
	a := tryEvents(t, hc, users["ann"], "1-x-0")
	if a.stream == nil {
		t.Fatalf("ann's stream from 1-x-0: %d %q", a.status, a.msg)
	}
	ev, _ := a.stream.waitFor("the first event", 10*time.Second, func(sseEvent) bool { return true })
	if ev.Event != "refetch" || ev.Data != "{}" || ev.ID == "" {
		t.Fatalf("first event from 1-x-0 with 5,000 jobs: %+v, want refetch", ev)
	}
	time.Sleep(300 * time.Millisecond) // what else comes: nothing
	extra := len(a.stream.events)
	sent := a.bytes.Load()
	if extra != 0 {
		t.Errorf("after the refetch: %d more events, want none until a job changes", extra)
	}
	create("ann@example.com", 1)
	live, _ := a.stream.waitFor("ann's new job, live", 10*time.Second, func(e sseEvent) bool { return e.Event == "job" })
	a.stream.close()
	t.Logf("Last-Event-ID 1-x-0 with 5,000 jobs: 1 event (%s), %d bytes, then the new job live", ev.Event, sent)
	rows = append(rows, []string{"ann, 5,000 jobs, `Last-Event-ID: 1-x-0`", fmt.Sprintf("1 event, `refetch` (%d bytes); then her new job, live", sent)})

	// The refetch's cursor is this process's: the new job, from memory.
	r := tryEvents(t, hc, users["ann"], ev.ID)
	if r.stream == nil {
		t.Fatalf("ann's stream from the refetch's cursor: %d %q", r.status, r.msg)
	}
	got, _ := r.stream.waitFor("the new job, replayed", 10*time.Second, func(sseEvent) bool { return true })
	if got.Event != "job" || got.job(t).ID != live.job(t).ID {
		t.Errorf("replay from the refetch's cursor: %+v, want the new job", got)
	}
	r.stream.close()
	rows = append(rows, []string{"ann, from the refetch's cursor", "the 1 job changed since, from memory"})

	rows = append(rows, foreignReplays(t, hc, users, foreign(beforeDan), foreign(beforeCy))...)
	report(t, "events-replay-bounds.md", "| stream | what it got |\n|---|---|\n", rows)
}

// createJobs makes n jobs of owner straight in the store: only rows
// matter to the replay.
func createJobs(t *testing.T, jobs mp3converter.JobStore, owner string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			errs <- jobs.CreateJob(context.Background(), &mp3converter.Job{ID: mp3converter.NewID(),
				Owner: owner, Filename: "a job with a name of some length.mp4", VideoFID: mp3converter.NewID(), Size: 123456})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// foreignReplays: dan, with 150 jobs changed since another gateway's
// cursor, gets refetch; cy, with 3, gets them.
func foreignReplays(t *testing.T, hc *http.Client, users map[string]*client, danCursor, cyCursor string) [][]string {
	var rows [][]string
	// dan: 150 jobs changed since a recent foreign cursor.
	d := tryEvents(t, hc, users["dan"], danCursor)
	if d.stream == nil {
		t.Fatalf("dan's stream: %d %q", d.status, d.msg)
	}
	if ev, _ := d.stream.waitFor("the first event", 10*time.Second, func(sseEvent) bool { return true }); ev.Event != "refetch" {
		t.Errorf("first event for 150 jobs changed since a foreign cursor: %+v, want refetch", ev)
	}
	d.stream.close()
	rows = append(rows, []string{"dan, 150 jobs changed since another gateway's cursor", "1 event, `refetch`"})

	// cy: 3 jobs changed since a recent foreign cursor.
	c := tryEvents(t, hc, users["cy"], cyCursor)
	if c.stream == nil {
		t.Fatalf("cy's stream: %d %q", c.status, c.msg)
	}
	for i := range 3 {
		if ev, _ := c.stream.waitFor("cy's jobs", 10*time.Second, func(sseEvent) bool { return true }); ev.Event != "job" {
			t.Errorf("cy's event %d: %+v, want her job", i+1, ev)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(c.stream.events); n != 0 {
		t.Errorf("cy got %d events more than her 3 jobs", n)
	}
	c.stream.close()
	rows = append(rows, []string{"cy, 3 jobs changed since another gateway's cursor", "her 3 jobs"})
	return rows
}
