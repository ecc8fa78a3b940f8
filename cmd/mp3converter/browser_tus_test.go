package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/mp3converter/mp3converter/internal/testmedia"
)

// TestBrowserTusOffline uploads a 9 MB video through the page in real
// Chromium, cuts the network (DevTools offline) at about a third, brings
// it back, and the page's resumable upload goes on from the server's
// offset, as one upload, to a job that is done with the right MP3.
func TestBrowserTusOffline(t *testing.T) {
	s := browserServe(t)
	api := login(t, s.URL, "ann@example.com", "correct horse")
	p := openPage(t, s)
	p.signIn("ann@example.com", "correct horse")
	eval[chromedp.Void](p, watchBars)

	file := named(t, testmedia.RawMKV, 4, "offline.mkv")
	conditions := networkConditions
	p.do("upload, throttled", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
		return err
	}), conditions(false, 1<<20), chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}))
	bar := `document.querySelector("#jobs li.upload progress")`
	p.poll("a third sent", fmt.Sprintf(`(%s?.value || 0) >= %s.max / 3`, bar, bar))
	parts := filepath.Join(s.Config.DataDir, "uploads")
	cutAt, stored := p.offline(conditions, bar, parts)

	row := `[...document.querySelectorAll("#jobs li.job")].find(li => li.querySelector(".name").textContent === "offline.mkv")`
	p.poll("offline.mkv done", row+`?.classList.contains("done") === true`)
	id := eval[string](p, row+`.dataset.id`)
	lowest := lowestAfter(eval[[]float64](p, `window.bars`), cutAt)
	t.Logf("the bar after the cut went no lower than %.0f bytes (the server had %d)", lowest, stored)
	if lowest < float64(stored)/2 {
		t.Errorf("the bar fell to %.0f after the cut: the upload started again rather than resumed from %d", lowest, stored)
	}
	infos, _ := filepath.Glob(filepath.Join(parts, "*.info"))
	if len(infos) != 1 {
		t.Errorf("%d uploads created, want 1: the page resumes its upload", len(infos))
	}
	j, _ := api.job(id)
	if j.Status != "done" || j.MP3FID == nil {
		t.Fatalf("job %s: %s", id, j.Status)
	}
	mp3, _ := api.download(*j.MP3FID, t.TempDir())
	checkMP3(t, mp3, file)
	if n := eval[int](p, `localStorage.length`); n != 0 {
		t.Errorf("the finished upload's URL is still kept: %d localStorage entries", n)
	}
}

// offline takes the page offline for a few seconds mid-upload: the server
// gets no more bytes, and the page does not give the upload up. It returns
// the bar's value when the network went and the bytes the server has.
func (p *page) offline(conditions func(bool, float64) chromedp.Action[chromedp.Void], bar, parts string) (cutAt float64, stored int64) {
	t := p.t
	p.do("offline", conditions(true, -1))
	cutAt = eval[float64](p, bar+`.value`)
	time.Sleep(time.Second) // a part in flight may land
	stored = partBytes(parts)
	time.Sleep(3 * time.Second)
	if now := partBytes(parts); now != stored {
		t.Fatalf("offline, the server still got bytes: %d, then %d", stored, now)
	}
	status := eval[string](p, `document.querySelector("#jobs li.upload .upload-status").textContent`)
	refused := eval[bool](p, `document.querySelector("#jobs li.upload").classList.contains("refused")`)
	t.Logf("offline at %.0f bytes on the bar; the server has %d; the row says %q", cutAt, stored, status)
	if refused || stored <= 0 {
		t.Fatalf("offline: the upload was given up (%v), or the server has %d bytes", refused, stored)
	}
	p.do("online", conditions(false, -1))
	return cutAt, stored
}

// watchBars records in window.bars every value the upload's bar shows.
const watchBars = `(() => {
	window.bars = [];
	new MutationObserver(() => {
		const bar = document.querySelector("#jobs li.upload progress");
		if (bar && bar.value > 0) window.bars.push(bar.value);
	}).observe(document.getElementById("main"), {subtree: true, childList: true, characterData: true, attributes: true});
})()`

// networkConditions takes the page offline or online, its uploads
// throttled to upload bytes a second (-1: not throttled).
func networkConditions(offline bool, upload float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{Offline: offline, DownloadThroughput: -1, UploadThroughput: upload}}}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{
			Offline: offline, DownloadThroughput: -1, UploadThroughput: upload})
		return err
	})
}

// lowestAfter is the lowest of bars after the first that reached from,
// or from.
func lowestAfter(bars []float64, from float64) float64 {
	lowest := from
	for i, v := range bars {
		if v >= from {
			for _, w := range bars[i+1:] {
				lowest = min(lowest, w)
			}
			break
		}
	}
	return lowest
}

// The page reloaded at a third of a 9.3 MB upload, and the same file
// picked again: the page finds the upload it kept in localStorage by the
// file's fingerprint and resumes it from the server's offset, the bar
// starting there, as one upload, to a done job with the right MP3.
func TestBrowserTusReload(t *testing.T) {
	s := browserServe(t)
	api := login(t, s.URL, "ann@example.com", "correct horse")
	p := openPage(t, s)
	p.signIn("ann@example.com", "correct horse")

	file := named(t, testmedia.RawMKV, 4, "reload.mkv")
	p.do("upload, throttled", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
		return err
	}), networkConditions(false, 1<<20), chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}))
	bar := `document.querySelector("#jobs li.upload progress")`
	p.poll("a third sent", fmt.Sprintf(`(%s?.value || 0) >= %s.max / 3`, bar, bar))
	p.do("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("app")))
	parts := filepath.Join(s.Config.DataDir, "uploads")
	stored := partBytes(parts)
	kept := eval[int](p, `Object.keys(localStorage).filter(k => k.startsWith("tus::")).length`)
	if stored <= 0 || kept != 1 {
		t.Fatalf("after the reload: the server has %d bytes, the page keeps %d uploads; want some, and 1", stored, kept)
	}
	eval[chromedp.Void](p, watchBars)
	p.do("pick the file again", networkConditions(false, -1), chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}))
	row := `[...document.querySelectorAll("#jobs li.job")].find(li => li.querySelector(".name").textContent === "reload.mkv")`
	p.poll("reload.mkv done", row+`?.classList.contains("done") === true`)
	bars := eval[[]float64](p, `window.bars`)
	t.Logf("reloaded with %d bytes on the server; the bar then showed %v", stored, bars)
	if len(bars) == 0 || bars[0] < float64(stored)/2 {
		t.Errorf("after the reload the bar started at %v, not from the server's %d bytes", bars, stored)
	}
	if infos, _ := filepath.Glob(filepath.Join(parts, "*.info")); len(infos) != 1 {
		t.Errorf("%d uploads created, want 1: the page resumed its upload", len(infos))
	}
	id := eval[string](p, row+`.dataset.id`)
	j, _ := api.job(id)
	if j.Status != "done" || j.MP3FID == nil {
		t.Fatalf("job %s: %s", id, j.Status)
	}
	mp3, _ := api.download(*j.MP3FID, t.TempDir())
	checkMP3(t, mp3, file)
}
