package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/mp3converter/mp3converter/internal/testmedia"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

var (
	writeScreenshot = flag.Bool("screenshot", false, "TestBrowser: write docs/screenshot.png and docs/page-*.png")
	screenshotsDir  = flag.String("screenshots-dir", "", "TestBrowser: write the page at desktop and phone widths, light and dark, to this dir")
)

// TestBrowser drives the web page in real Chromium against serve: sign in,
// upload two videos through the file input and watch their progress bars,
// each upload's row becoming its job's, watch the jobs go from queued to
// done live, with a notice per file that can be dismissed; measure the
// Options and the filters at phone and desktop widths, light and dark;
// download one MP3, delete the other and undo it, then delete it; the token
// is out of every script's reach, and another origin's form post is
// refused. A missing Chromium fails the test.
func TestBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (apt-get install chromium): the web page's test needs it")
	}
	cfg := testConfig(t)
	cfg.Workers = 1                   // one conversion at a time: the second job waits, queued
	cfg.FFmpeg = slowFFmpeg(t, "0.7") // each conversion lasts long enough to be seen
	cfg.EventsPollInterval = 50 * time.Millisecond
	cfg.MaxUpload = 1 << 20
	cfg.WebhookAllowPrivate = true // the receiver below is on loopback
	s := startServe(t, cfg)
	s.addUser(t, "ann@example.com", "correct horse", false)
	api := login(t, s.URL, "ann@example.com", "correct horse") // to check what the page did

	p := &page{t: t, ctx: newBrowser(t, chromium), base: s.URL}
	p.signIn("ann@example.com", "correct horse")
	p.tokenOutOfReach()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer hook.Close()
	p.addWebhook(hook.URL + "/hook")

	mp4, webm := named(t, testmedia.MP4, 4, "holiday.mp4"), named(t, testmedia.WebM, 3, "talk.webm")
	p.upload(mp4, webm)
	p.refused(testmedia.Text(t), "notes.txt", "failed", "") // converts, and fails
	p.refused(large(t), "large.mp4", "refused", "the file is larger than the 1 MiB limit")
	ids := p.waitDone("holiday.mp4", "talk.webm")
	p.waitFailed("notes.txt")
	p.poll("a webhook delivery shown", `document.querySelector("#hooks-list li .muted")?.textContent.includes(" delivered")`)
	p.notices([]string{"holiday.mp3 is ready.", "talk.mp3 is ready."}, "notes.txt could not be converted")
	p.do("dismiss the refused upload", chromedp.Click(chromedp.CSS(`li.upload.refused button.dismiss`)),
		chromedp.WaitNotPresent(chromedp.CSS(`li.upload`)))
	p.layout()

	path := p.download(ids["holiday.mp4"])
	if format, d := testmedia.Probe(t, path); format != "mp3" || math.Abs(d-4) > 0.5 {
		t.Errorf("downloaded %s: %s of %.2f s, want mp3 of 4 s", filepath.Base(path), format, d)
	}
	p.deleteUndone(ids["talk.webm"])
	if _, status := api.job(ids["talk.webm"]); status != 200 {
		t.Errorf("a deletion undone: GET answered %d", status)
	}
	p.delete(ids["talk.webm"])
	testsupport.Eventually(t, 20*time.Second, "the deletion sent", func() bool { _, status := api.job(ids["talk.webm"]); return status == 404 })
	if _, status := api.job(ids["holiday.mp4"]); status != 200 {
		t.Errorf("kept job: GET answered %d", status)
	}

	p.do("delete the webhook", chromedp.Click(chromedp.CSS("#hooks-list li button")))
	p.poll("the webhook deleted", `document.getElementById("hooks-list").textContent === "No webhooks."`)
	p.refetch(len(api.jobs("")))
	p.crossSiteFormRefused(len(api.jobs("")))
	if n := len(api.jobs("")); n != 2 { // holiday.mp4 and notes.txt
		t.Errorf("after the cross-site post: %d jobs, want 2", n)
	}
	p.signOut()
	// Signing out on the page revokes the account's other tokens too.
	if _, status := api.job(ids["holiday.mp4"]); status != 401 {
		t.Errorf("another token of ann's after the page signed out: GET answered %d, want 401", status)
	}
}

// slowFFmpeg is ffmpeg after a pause, so that a conversion's states last.
func slowFFmpeg(t *testing.T, seconds string) string {
	path := filepath.Join(t.TempDir(), "ffmpeg")
	writeFile(t, path, []byte("#!/bin/sh\nsleep "+seconds+"\nexec ffmpeg \"$@\"\n"))
	if err := os.Chmod(path, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// named is a test video under a name of its own.
func named(t *testing.T, kind testmedia.Kind, seconds float64, name string) string {
	b, err := os.ReadFile(testmedia.Make(t, kind, seconds))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	writeFile(t, path, b)
	return path
}

// large is a file over the test's 1 MiB upload limit.
func large(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "large.mp4")
	writeFile(t, path, make([]byte, 3<<20))
	return path
}

// browserServe starts serve for a test of the page: events polled every
// 50 ms, and ann signed up with the password "correct horse".
func browserServe(t *testing.T) *testServer {
	cfg := testConfig(t)
	cfg.EventsPollInterval = 50 * time.Millisecond
	s := startServe(t, cfg)
	s.addUser(t, "ann@example.com", "correct horse", false)
	return s
}

// openPage opens s's page in a headless Chromium of the test's own.
func openPage(t *testing.T, s *testServer) *page {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (apt-get install chromium): the web page's test needs it")
	}
	return &page{t: t, ctx: newBrowser(t, chromium), base: s.URL}
}

// newBrowser starts headless Chromium with a new, empty profile.
func newBrowser(t *testing.T, chromium string) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.NoFirstRun,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no deadline
		t.Fatal(err)
	}
	return ctx
}

// page is the web page in one browser tab.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// do runs steps within a minute, failing the test on error.
func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](p *page, js string, opts ...chromedp.EvaluateOption) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		p.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// poll waits until js is true.
func (p *page) poll(what, js string) {
	p.t.Helper()
	p.do(what, func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](js, chromedp.WithPollingTimeout(45*time.Second))(ctx, t)
		return chromedp.Void{}, err
	})
}

// signIn signs in with the keyboard: the password's Enter submits the form.
func (p *page) signIn(email, password string) {
	p.do("sign in",
		chromedp.Navigate(p.base+"/"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password+"\r"),
		chromedp.WaitVisible(chromedp.ID("app")),
	)
	if user := eval[string](p, `document.getElementById("user").textContent`); user != email {
		p.t.Errorf("signed in as %q", user)
	}
	p.poll("the job stream", `document.getElementById("live").textContent.startsWith("Live")`)
	// Record every state each job's row shows, each upload's bar short of
	// full, and every list item that ever showed each file's name.
	eval[chromedp.Void](p, `(() => {
		window.seen = {}; window.partial = {}; window.items = {}; window.most = {};
		const record = () => {
			const count = {};
			for (const li of document.querySelectorAll("#jobs li")) {
				const name = li.querySelector(".name")?.textContent;
				if (!name) continue;
				(window.items[name] ||= new Set()).add(li);
				count[name] = (count[name] || 0) + 1;
				window.most[name] = Math.max(window.most[name] || 0, count[name]);
				if (li.classList.contains("upload")) {
					const bar = li.querySelector("progress");
					if (bar.value > 0 && bar.value < bar.max) (window.partial[name] ||= []).push(li.querySelector(".upload-status").textContent);
					continue;
				}
				const st = li.className.replace("job", "").trim(), a = (window.seen[li.dataset.id] ||= []);
				if (a[a.length - 1] !== st) a.push(st);
			}
		};
		new MutationObserver(record).observe(document.getElementById("main"), {subtree: true, childList: true, characterData: true, attributes: true});
	})()`)
}

// addWebhook registers url in the page: its secret is shown once.
func (p *page) addWebhook(url string) {
	p.do("add a webhook", chromedp.SendKeys(chromedp.ID("hook-url"), url+"\r"), chromedp.WaitVisible(chromedp.ID("hook-secret")))
	if secret := eval[string](p, `document.getElementById("hook-secret-value").textContent`); !strings.HasPrefix(secret, "whsec_") {
		p.t.Errorf("webhook secret shown: %q", secret)
	}
	p.do("hide the secret", chromedp.Click(chromedp.ID("hook-secret-done")), chromedp.WaitNotVisible(chromedp.ID("hook-secret")))
	p.poll("the webhook listed", fmt.Sprintf(`document.getElementById("hooks-list").textContent.includes(%q)`, url))
}

// tokenOutOfReach checks that no script can read the session's token.
func (p *page) tokenOutOfReach() {
	if v := eval[string](p, `document.cookie + "|" + localStorage.length + "|" + sessionStorage.length`); v != "|0|0" {
		p.t.Errorf("the page's script sees cookie|localStorage|sessionStorage = %q", v)
	}
}

// upload picks the files in the page's file input, with the upload
// throttled so that the progress bars are seen moving.
func (p *page) upload(files ...string) {
	throttle := func(rate float64) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
				MatchedNetworkConditions: []*network.Conditions{{DownloadThroughput: -1, UploadThroughput: rate}}})
			return err
		})
	}
	p.do("upload", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
		return err
	}), throttle(64<<10), chromedp.SetUploadFiles(chromedp.ID("file"), files))
	p.poll("uploads done", `!document.querySelector("#jobs li.upload")`)
	p.do("unthrottle", throttle(-1))
	for _, f := range files {
		name := filepath.Base(f)
		st, err := os.Stat(f)
		if err != nil {
			p.t.Fatal(err)
		}
		row := fmt.Sprintf(`[...document.querySelectorAll("#jobs li")].find(li => li.querySelector(".name").textContent === %q)`, name)
		// A row the stream gave its job before the upload's answer came
		// (adoptUpload) shows the upload's time once the answer comes.
		p.poll(name+"'s upload time", `!!`+row+`?.querySelector(".upload-status")`)
		text := eval[string](p, row+`?.querySelector(".upload-status").textContent`)
		partial := eval[[]string](p, fmt.Sprintf(`window.partial[%q] || []`, name))
		p.t.Logf("upload of %s (%d bytes): %q, then %q", name, st.Size(), partial, text)
		if len(partial) == 0 || !strings.Contains(partial[len(partial)-1], " of "+pageBytes(st.Size())) || !strings.HasSuffix(partial[len(partial)-1], "/s") {
			p.t.Errorf("upload of %s: the bar was never seen part-full with the file's bytes and speed: %q", name, partial)
		}
		if !strings.HasPrefix(text, pageBytes(st.Size())+" in ") || strings.Contains(text, " 0.0 s") {
			p.t.Errorf("upload of %s ended with %q", name, text)
		}
		// One list item, from the upload to its job, and never two at once.
		items := eval[int](p, fmt.Sprintf(`window.items[%q].size`, name))
		most := eval[int](p, fmt.Sprintf(`window.most[%q]`, name))
		id := eval[string](p, row+`.dataset.id || ""`)
		if items != 1 || most != 1 || len(id) != 24 {
			p.t.Errorf("upload of %s: %d list items, at most %d at once, job id %q; want one item that becomes the job's", name, items, most, id)
		}
	}
}

// pageBytes is n as the page writes a size (decimal units).
func pageBytes(n int64) string {
	units := []string{"B", "KB", "MB", "GB"}
	v, i := float64(n), 0
	for v >= 1000 && i < len(units)-1 {
		v, i = v/1000, i+1
	}
	if i > 0 && v < 10 {
		return fmt.Sprintf("%.1f %s", v, units[i])
	}
	return fmt.Sprintf("%.0f %s", v, units[i])
}

// refused uploads one file and checks how its upload ended: accepted (its
// job to fail later), or refused with the server's message at once.
func (p *page) refused(file, name, want, message string) {
	p.do("upload "+name, chromedp.SetUploadFiles(chromedp.ID("file"), []string{file}))
	row := fmt.Sprintf(`[...document.querySelectorAll("#jobs li")].find(li => li.querySelector(".name").textContent === %q)`, name)
	p.poll(name+" uploaded", row+`?.classList.contains("refused") || !!`+row+`?.dataset.id`)
	ok := eval[bool](p, `!!`+row+`.dataset.id`)
	reason := eval[string](p, row+`.querySelector(".reason").textContent`)
	if ok != (want == "failed") || !ok && reason != message {
		p.t.Errorf("upload of %s: accepted %v, reason %q; want %s %q", name, ok, reason, want, message)
	}
}

// waitFailed waits until the named file's job failed, its reason shown.
func (p *page) waitFailed(name string) {
	row := fmt.Sprintf(`[...document.querySelectorAll("#jobs li.job")].find(li => li.querySelector(".name").textContent === %q)`, name)
	p.poll(name+" failed", row+`?.classList.contains("failed") === true`)
	if reason := eval[string](p, row+`.querySelector(".reason").textContent`); reason == "" {
		p.t.Errorf("%s failed with no reason shown", name)
	}
}

// waitDone waits until the jobs of the named files are done, without a
// reload, and returns their ids. Each must have been seen waiting first.
func (p *page) waitDone(names ...string) map[string]string {
	ids := map[string]string{}
	for _, name := range names {
		row := fmt.Sprintf(`[...document.querySelectorAll("#jobs li.job")].find(li => li.querySelector(".name").textContent === %q)`, name)
		p.poll(name+" done", row+`?.classList.contains("done") === true`)
		id := eval[string](p, row+`.dataset.id`)
		seen := eval[[]string](p, fmt.Sprintf(`window.seen[%q]`, id))
		p.t.Logf("%s (%s) was seen %v", name, id, seen)
		if len(seen) < 2 || seen[0] != "queued" && seen[0] != "processing" || seen[len(seen)-1] != "done" {
			p.t.Errorf("%s: the page showed %v, want it live from queued or processing to done", name, seen)
		}
		ids[name] = id
	}
	if n := eval[int](p, `Object.values(window.seen).filter(s => s[0] === "queued").length`); n == 0 {
		p.t.Error("no job was seen queued")
	}
	return ids
}

// download clicks the job's Download button and returns the file.
func (p *page) download(id string) string {
	dir := p.t.TempDir()
	progress := chromedp.BrowserEvents(p.ctx, browser.DownloadProgress)
	p.do("download", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true)})
		return err
	}), chromedp.Click(chromedp.CSS(fmt.Sprintf(`li.job[data-id=%q] a.download`, id))))
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	for ev, err := range progress {
		if err != nil || ctx.Err() != nil {
			p.t.Fatalf("download: %v %v", err, ctx.Err())
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			return filepath.Join(dir, ev.GUID)
		case browser.DownloadProgressStateCanceled:
			p.t.Fatal("download canceled")
		}
	}
	p.t.Fatal("no download")
	return ""
}

// delete clicks the job's Delete button: its row goes at once, and Undo
// is offered while the deletion waits.
func (p *page) delete(id string) {
	row := fmt.Sprintf(`li.job[data-id=%q]`, id)
	p.do("delete", chromedp.Click(chromedp.CSS(row+" button.delete")), chromedp.WaitNotPresent(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS("#toasts button.undo")))
	if focused := eval[string](p, `document.activeElement.className`); focused != "undo" {
		p.t.Errorf("after Delete the focus is on %q, want the Undo button", focused)
	}
	p.poll("the deletion sent", `!document.querySelector("#toasts li")`)
}

// deleteUndone deletes the job and undoes it with the keyboard: the row
// comes back, and stays after the delay has passed.
func (p *page) deleteUndone(id string) {
	row := fmt.Sprintf(`li.job[data-id=%q]`, id)
	p.do("delete and undo", chromedp.Click(chromedp.CSS(row+" button.delete")), chromedp.WaitNotPresent(chromedp.CSS(row)),
		chromedp.WaitVisible(chromedp.CSS("#toasts button.undo")), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(row)), chromedp.Sleep(6*time.Second))
	if n := eval[int](p, `document.querySelectorAll(`+strconv.Quote(row)+`).length`); n != 1 {
		p.t.Errorf("after Undo and the delay: %d rows of the job, want 1", n)
	}
}

// notices checks that each ready file has a notice of its own, and a
// failed one too, and dismisses one with the keyboard: the others stay,
// and the focus goes to the next one's close button.
func (p *page) notices(ready []string, failed string) {
	texts := eval[[]string](p, `[...document.querySelectorAll("#notices li .text")].map(e => e.textContent)`)
	for _, want := range append(ready, failed) {
		if !slices.ContainsFunc(texts, func(s string) bool { return strings.HasPrefix(s, want) }) {
			p.t.Errorf("notices %q: none for %q", texts, want)
		}
	}
	first := `#notices li:first-child button.close`
	p.do("dismiss a notice", chromedp.Focus(chromedp.CSS(first)), chromedp.KeyEvent(kb.Enter))
	after := eval[[]string](p, `[...document.querySelectorAll("#notices li .text")].map(e => e.textContent)`)
	if len(after) != len(texts)-1 || slices.Contains(after, texts[0]) {
		p.t.Errorf("after dismissing %q: %q", texts[0], after)
	}
	if focused := eval[string](p, `document.activeElement.getAttribute("aria-label") || ""`); !strings.HasPrefix(focused, "Dismiss: ") {
		p.t.Errorf("after dismissing a notice the focus is on %q, want the next notice's close button", focused)
	}
}

// refetch reloads the page with a cursor too old to replay: the stream
// sends refetch and no job, and the page lists its jobs with GET /jobs.
func (p *page) refetch(jobs int) {
	cursor := func(id string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			h := network.Headers{}
			if id != "" {
				h["Last-Event-ID"] = id
			}
			_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h})
			return err
		})
	}
	p.do("reload with an old cursor", cursor("1-x-0"), chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("app")))
	p.poll("the jobs listed after a refetch", fmt.Sprintf(`document.querySelectorAll("#jobs li.job").length === %d`, jobs))
	p.do("no cursor", cursor(""))
}

// crossSiteFormRefused has a page of another origin (another port of
// 127.0.0.1) post a form to /upload, as a CSRF attack would: the browser
// sends the session cookie along (same site), and the gateway refuses it.
func (p *page) crossSiteFormRefused(jobs int) {
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<form id="f" method="post" action="%s/upload" enctype="multipart/form-data">
<textarea name="file">not a video</textarea></form><script>document.getElementById("f").submit()</script>`, p.base)
	}))
	defer evil.Close()
	p.do("cross-site post", chromedp.Navigate(evil.URL))
	p.poll("cross-site post answered", fmt.Sprintf(`location.href === %q`, p.base+"/upload"))
	if text := eval[string](p, `document.body.innerText.trim()`); text != "cross-site request refused" {
		p.t.Errorf("the cross-site form post was answered %q", text)
	}
}

// signOut signs out: the cookie is gone, and so is the session.
func (p *page) signOut() {
	p.do("back to the page", chromedp.Navigate(p.base+"/"), chromedp.WaitVisible(chromedp.ID("signout")),
		chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("signin")))
	if msg := eval[string](p, `document.getElementById("signin-error").textContent`); msg != "" {
		p.t.Errorf("signing out said %q", msg)
	}
	status := eval[int](p, `fetch("/jobs").then(r => r.status)`, chromedp.EvalAwaitPromise)
	if status != 401 {
		p.t.Errorf("after signing out, GET /jobs answered %d", status)
	}
}

// control is one form control as laid out: its width, and the widest
// text it may show (a select's longest option) against the room inside.
type control struct {
	ID       string  `json:"id"`
	Width    float64 `json:"width"`
	Scroll   float64 `json:"scroll"`
	Client   float64 `json:"client"`
	Text     float64 `json:"text"`
	Room     float64 `json:"room"`
	Longest  string  `json:"longest"`
	Overflow bool    `json:"overflow"`
}

// measureControls lays out every control of the Options and the filters.
const measureControls = `(() => {
	const ctx = document.createElement("canvas").getContext("2d");
	return [...document.querySelectorAll("#options-form select, #options-form input:not([type=checkbox]), #options-form label.check, #filters select, #filters input")].map(c => {
		const cs = getComputedStyle(c), r = c.getBoundingClientRect();
		ctx.font = cs.font;
		const texts = c.tagName === "SELECT" ? [...c.options].map(o => o.text) : c.tagName === "LABEL" ? [c.textContent.trim()] : [c.value || c.placeholder || ""];
		const widths = texts.map(t => ctx.measureText(t).width), i = widths.indexOf(Math.max(...widths));
		const room = c.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
		return {id: c.id || c.textContent.trim(), width: r.width, scroll: c.scrollWidth, client: c.clientWidth,
			text: widths[i], room: c.tagName === "LABEL" ? c.clientWidth : room, longest: texts[i],
			overflow: c.tagName === "LABEL" && c.scrollWidth > c.clientWidth};
	});
})()`

// layout measures the Options (open) and the filters at phone and desktop
// widths, in light and dark: each Options control at least 200 px wide on
// a 390 px screen, no text wider than its control, no sideways scrolling;
// and takes the screenshots, with -screenshot into docs/ (the README's
// docs/screenshot.png at 1280×800 with the Options closed too), with
// -screenshots-dir there.
func (p *page) layout() {
	type variant struct {
		width, height int64
		scheme        string
	}
	p.do("open the Options", chromedp.Evaluate[chromedp.Void](`document.getElementById("options").open = true`))
	for _, v := range []variant{{390, 844, "light"}, {390, 844, "dark"}, {1280, 800, "light"}, {1280, 800, "dark"}} {
		name := fmt.Sprintf("page-%d-%s", v.width, v.scheme)
		p.emulate(v.width, v.height, v.scheme)
		controls := eval[[]control](p, measureControls)
		if len(controls) < 10 {
			p.t.Fatalf("%s: measured %d controls", name, len(controls))
		}
		for _, c := range controls {
			p.t.Logf("%s: %-16s %5.0f px wide, text %5.1f of %5.1f px (%q)", name, c.ID, c.Width, c.Text, c.Room, c.Longest)
			if v.width == 390 && !strings.HasPrefix(c.ID, "filter") && c.Width < 200 {
				p.t.Errorf("%s: %s is %.0f px wide, want 200 or more", name, c.ID, c.Width)
			}
			if c.Scroll > c.Client || c.Text > c.Room+0.5 || c.Overflow {
				p.t.Errorf("%s: %s's text %q (%.1f px) overflows its %.1f px (scrollWidth %.0f, clientWidth %.0f)", name, c.ID, c.Longest, c.Text, c.Room, c.Scroll, c.Client)
			}
		}
		if w := eval[int64](p, `document.documentElement.scrollWidth`); w > v.width {
			p.t.Errorf("%s: the page is %d px wide: it scrolls sideways", name, w)
		}
		p.screenshot(name, v.width, v.height, true)
	}
	p.do("close the Options", chromedp.Evaluate[chromedp.Void](`document.getElementById("options").open = false`))
	p.emulate(1280, 800, "light")
	p.screenshot("screenshot", 1280, 800, false)
	p.do("reset", chromedp.EmulateViewport(1280, 900))
}

// emulate sets the viewport and the color scheme.
func (p *page) emulate(width, height int64, scheme string) {
	p.do("emulate", chromedp.EmulateViewport(width, height), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}))
}

// screenshot takes the page, whole or the viewport only, and writes it
// to docs/name.png with -screenshot and into -screenshots-dir.
func (p *page) screenshot(name string, width, height int64, whole bool) {
	p.do("move the mouse away", chromedp.MouseClickXY(1, 1)) // no hover or focus outline in the picture
	eval[chromedp.Void](p, `document.activeElement.blur()`)
	if whole { // the whole page in the viewport: Chromium paints what lies beyond it only in part
		h := eval[int64](p, `document.documentElement.scrollHeight`)
		p.do("fit "+name, chromedp.EmulateViewport(width, max(h, height)))
	}
	shot := chromedp.CaptureScreenshot() // the viewport
	if whole {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(p.ctx, shot)
	if err != nil {
		p.t.Fatal(err)
	}
	if len(png) > 400<<10 {
		p.t.Errorf("%s.png is %d KB, over 400 KB", name, len(png)>>10)
	}
	if *screenshotsDir != "" {
		writeFile(p.t, filepath.Join(*screenshotsDir, name+".png"), png)
	}
	if *writeScreenshot {
		writeFile(p.t, filepath.Join("..", "..", "docs", name+".png"), png)
	}
	p.do("unfit "+name, chromedp.EmulateViewport(width, height))
}

func writeFile(t *testing.T, path string, b []byte) {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
