package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/mp3converter/mp3converter"
)

// TestBrowserList drives the job list in real Chromium with more jobs
// than a page holds: paging, the name and status filters, ticking rows and
// deleting them, and clearing the finished jobs, each checked against what
// the server keeps.
func TestBrowserList(t *testing.T) {
	s := browserServe(t)
	s.addUser(t, "bob@example.com", "bob-password", false)
	seedJobs(t, s, "bob@example.com", 3, "Holiday of bob")
	names := seedJobs(t, s, "ann@example.com", 25, "Holiday") // newest first: Holiday 24 ... Holiday 0
	waiting := &mp3converter.Job{ID: mp3converter.NewID(), Owner: "ann@example.com", Filename: "waiting.mp4",
		VideoFID: mp3converter.NewID(), Status: mp3converter.JobQueued, CreatedAt: time.Now().Add(-2 * time.Hour)}
	if err := s.Engines.Jobs.CreateJob(context.Background(), waiting); err != nil {
		t.Fatal(err)
	}
	api := login(t, s.URL, "ann@example.com", "correct horse")

	p := openPage(t, s)
	p.signIn("ann@example.com", "correct horse")
	p.poll("the first page", `document.querySelectorAll("#jobs li.job").length === 20`)
	p.expectRows("the first page", names[:20], "Page 1")
	p.do("older", chromedp.Click(chromedp.ID("older")))
	p.poll("the second page", `document.getElementById("page-info").textContent === "Page 2"`)
	p.expectRows("the second page", append(names[20:], "waiting.mp4"), "Page 2")
	p.do("newer", chromedp.Click(chromedp.ID("newer")))
	p.poll("the first page again", `document.getElementById("page-info").textContent === "Page 1"`)
	p.expectRows("the first page again", names[:20], "Page 1")

	p.filter("holiday 2", "")
	p.expectRows("named holiday 2", []string{"Holiday 24.mp4", "Holiday 23.mp4", "Holiday 22.mp4", "Holiday 21.mp4", "Holiday 20.mp4", "Holiday 2.mp4"}, "")
	p.filter("holiday 2", "failed")
	p.expectRows("named holiday 2, failed", []string{"Holiday 23.mp4", "Holiday 21.mp4"}, "")
	p.filter("", "queued")
	p.expectRows("queued", []string{"waiting.mp4"}, "")
	p.filter("", "")

	// Tick two rows and delete them: both go, after the delay for Undo.
	id := func(name string) string {
		return eval[string](p, fmt.Sprintf(`[...document.querySelectorAll("#jobs li.job")].find(li => li.querySelector(".name").textContent === %q).dataset.id`, name))
	}
	a, b := id("Holiday 24.mp4"), id("Holiday 22.mp4")
	p.do("tick two", chromedp.Click(chromedp.CSS(fmt.Sprintf(`li[data-id=%q] input.select`, a))),
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`li[data-id=%q] input.select`, b))))
	if text := eval[string](p, `document.getElementById("delete-selected").textContent`); text != "Delete selected (2)" {
		t.Errorf("with two ticked: %q", text)
	}
	p.do("delete the ticked", chromedp.Click(chromedp.ID("delete-selected")))
	p.poll("the deletion sent", `!document.querySelector("#toasts li")`)
	for _, id := range []string{a, b} {
		if _, status := api.job(id); status != 404 {
			t.Errorf("a ticked job deleted: GET answered %d", status)
		}
	}
	p.expectRows("after deleting two", append(append([]string{}, names[1:2]...), append(names[3:20], names[20:22]...)...), "Page 1")

	// Clear finished: every done and failed job, on every page, and only those.
	p.do("clear finished", chromedp.Click(chromedp.ID("clear-finished")), chromedp.WaitVisible(chromedp.CSS("#toasts li")))
	if text := eval[string](p, `document.querySelector("#toasts .text").textContent`); !strings.HasPrefix(text, "Deleting 23 finished jobs") {
		t.Errorf("clear finished says %q", text)
	}
	p.poll("the finished jobs cleared", `!document.querySelector("#toasts li")`)
	if js := api.jobs(""); len(js) != 1 || js[0].Filename != "waiting.mp4" {
		t.Errorf("after clearing finished jobs the server keeps %d jobs, want waiting.mp4 only", len(js))
	}
	p.expectRows("after clearing finished jobs", []string{"waiting.mp4"}, "")
	if n := len(login(t, s.URL, "bob@example.com", "bob-password").jobs("")); n != 3 {
		t.Errorf("bob's jobs after ann cleared hers: %d, want 3", n)
	}
}

// filter types a name and picks a status in the filters, and waits until
// the list shows them.
func (p *page) filter(name, status string) {
	p.t.Helper()
	p.do("filter", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`performance.clearResourceTimings();
		document.getElementById("filter-q").value = %q; document.getElementById("filter-status").value = %q;
		document.getElementById("filters").requestSubmit()`, name, status)))
	want := "/jobs?limit=20"
	if status != "" {
		want += "&status=" + status
	}
	if name != "" {
		want += "&q=" + strings.ReplaceAll(name, " ", "+")
	}
	p.poll("the list filtered", fmt.Sprintf(`performance.getEntriesByType("resource").some(e => e.name.endsWith(%q))`, want))
}

// expectRows waits until the list shows the names, in order, and its
// pager says pageInfo, failing the test after 10 s.
func (p *page) expectRows(what string, names []string, pageInfo string) {
	p.t.Helper()
	var got []string
	var info string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		got = eval[[]string](p, `[...document.querySelectorAll("#jobs li.job .name")].map(e => e.textContent)`)
		info = eval[string](p, `document.getElementById("page-info").textContent`)
		if strings.Join(got, "|") == strings.Join(names, "|") && info == pageInfo {
			return
		}
	}
	p.t.Errorf("%s: rows %q, %q; want %q, %q", what, got, info, names, pageInfo)
}
