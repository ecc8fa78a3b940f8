package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mattn/go-runewidth"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/mp3converter/mp3converter/client"
	"github.com/mp3converter/mp3converter/internal/cmdio"
)

// view shows what convert does, file by file (i is the file's index).
type view interface {
	// uploading returns the callback of the upload's progress.
	uploading(i int) func(sent int64)
	uploaded(i int)
	progress(i int, j client.Job)
	// waiting says why a queued job waits (watchQueue), until it starts.
	waiting(i int, reason string)
	done(i int, mp3 string)
	failed(i int, reason string)
	notice(msg string)
	close()
}

// newView returns progress bars on a terminal, plain lines elsewhere.
func newView(ctx context.Context, w io.Writer, files []string) view {
	states := make([]*fileState, len(files))
	for i, path := range files {
		states[i] = &fileState{name: filepath.Base(path), phase: "waiting"}
		if st, err := os.Stat(path); err == nil {
			states[i].size = st.Size()
		}
	}
	if cols := barWidth(w); cols > 0 {
		return newBarView(ctx, w, cols, states)
	}
	return &lineView{w: w, files: states, every: 3 * time.Second}
}

// fileState is one file's progress.
type fileState struct {
	name     string
	size     int64
	phase    string // waiting, upload, queued, converting, done, failed
	sent     int64
	start    time.Time
	took     time.Duration // the upload's, once done
	progress float64
	detail   string // the MP3's name, or why it failed
	wait     string // why it is queued, once known
}

// rate is the upload's average speed in bytes per second.
func (f *fileState) rate() float64 {
	took := f.took
	if took == 0 {
		took = time.Since(f.start)
	}
	if s := took.Seconds(); s > 0 {
		return float64(f.sent) / s
	}
	return 0
}

// uploadLine is the upload's bytes, speed and time left.
func (f *fileState) uploadLine() string {
	line := fmt.Sprintf("%s / %s", cmdio.Bytes(f.sent), cmdio.Bytes(f.size))
	if r := f.rate(); r > 0 {
		left := time.Duration(float64(f.size-f.sent) / r * float64(time.Second)).Round(time.Second)
		line += fmt.Sprintf("  %s  %s left", cmdio.Rate(r), left)
	}
	return line
}

// lineView prints plain lines, for logs and pipes: no escapes, no
// carriage returns, and a converting line per file every few seconds.
type lineView struct {
	mu    sync.Mutex
	w     io.Writer
	files []*fileState
	every time.Duration
	last  map[int]time.Time
}

func (v *lineView) printf(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fmt.Fprintf(v.w, format+"\n", args...)
}

// uploading shows nothing until the upload is done.
func (v *lineView) uploading(int) func(int64) { return nil }

func (v *lineView) uploaded(i int) {
	f := v.files[i]
	v.setPhase(i, "queued")
	v.printf("uploaded %s (%s)", f.name, cmdio.Bytes(f.size))
}

func (v *lineView) progress(i int, j client.Job) {
	if j.Status != client.StatusProcessing {
		return
	}
	v.mu.Lock()
	v.files[i].phase = "converting"
	if v.last == nil {
		v.last = map[int]time.Time{}
	}
	due := time.Since(v.last[i]) >= v.every
	if due {
		v.last[i] = time.Now()
	}
	v.mu.Unlock()
	if due {
		v.printf("%s: converting %.0f%%", v.files[i].name, j.Progress*100)
	}
}

// waiting prints why the job waits when that changes, until it starts.
func (v *lineView) waiting(i int, reason string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f := v.files[i]
	if f.phase != "queued" || f.wait == reason {
		return
	}
	f.wait = reason
	fmt.Fprintf(v.w, "%s: queued: %s\n", f.name, reason)
}

func (v *lineView) done(i int, mp3 string) {
	v.setPhase(i, "done")
	v.printf("%s: done -> %s", v.files[i].name, mp3)
}

func (v *lineView) failed(i int, reason string) {
	v.setPhase(i, "failed")
	v.printf("%s: failed: %s", v.files[i].name, reason)
}

func (v *lineView) setPhase(i int, phase string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.files[i].phase = phase
}

func (v *lineView) notice(msg string) { v.printf("%s", msg) }

func (v *lineView) close() {}

// barView draws a bar per file with mpb: the upload's bytes, speed and
// time left, then why it waits, the conversion's percentage, then the
// MP3's name or the failure. The failures are listed again below the bars
// at the end. Each line fits the terminal: long names are cut (mpb would
// cut the line's end, bar and all), the bar narrows, and the details,
// last, are cut by mpb where they overflow.
type barView struct {
	p       *mpb.Progress
	w       io.Writer
	details int // the most cells the details may take
	mu      sync.Mutex
	files   []*fileState
	bars    []*mpb.Bar
}

func newBarView(ctx context.Context, w io.Writer, cols int, files []*fileState) *barView {
	names, bar, details := barLayout(cols, files)
	v := &barView{p: mpb.NewWithContext(ctx, mpb.WithOutput(w), mpb.WithWidth(bar), mpb.WithRefreshRate(150*time.Millisecond)),
		w: w, details: details, files: files}
	for _, f := range files {
		// Bars start with no total, so they complete only when told.
		v.bars = append(v.bars, v.p.AddBar(0,
			mpb.PrependDecorators(decor.Name(runewidth.Truncate(f.name, names, "…"), decor.WCSyncSpaceR), decor.Any(v.text(f, true), decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.Any(v.text(f, false)))))
	}
	return v
}

// barLayout returns the most cells a name may take, the bar's width and
// the most cells the details may take on a terminal cols wide: the name,
// the phase ("converting") and the bar leave the details 30 cells or more.
// (Details longer than the room left would make mpb shrink the bar away.)
func barLayout(cols int, files []*fileState) (names, bar, details int) {
	const phase, gaps = len("converting"), 4
	for _, f := range files {
		names = max(names, runewidth.StringWidth(f.name))
	}
	names = min(names, max(16, cols*3/10))
	bar = min(32, max(10, cols-names-phase-30-gaps))
	return names, bar, max(10, cols-names-phase-bar-gaps)
}

// text returns the decorator showing the phase (left) or its details.
func (v *barView) text(f *fileState, left bool) decor.DecorFunc {
	return func(decor.Statistics) string {
		v.mu.Lock()
		defer v.mu.Unlock()
		if left {
			return f.phase
		}
		return runewidth.Truncate(v.detail(f), v.details, "…")
	}
}

// detail is what the bar of f shows after it; v.mu is held.
func (v *barView) detail(f *fileState) string {
	switch {
	case f.phase == "upload":
		return f.uploadLine()
	case f.phase == "queued" && f.wait != "":
		return f.wait
	case f.phase == "queued":
		return fmt.Sprintf("uploaded %s at %s", cmdio.Bytes(f.size), cmdio.Rate(f.rate()))
	case f.phase == "converting":
		return fmt.Sprintf("%.0f%%", f.progress*100)
	case f.phase == "done":
		return "-> " + f.detail
	}
	return f.detail
}

func (v *barView) set(i int, fn func(f *fileState)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	fn(v.files[i])
}

func (v *barView) uploading(i int) func(int64) {
	var size int64
	v.set(i, func(f *fileState) { f.phase, f.start, size = "upload", time.Now(), f.size })
	v.bars[i].SetTotal(max(size, 1), false)
	return func(sent int64) {
		v.set(i, func(f *fileState) { f.sent = sent })
		v.bars[i].SetCurrent(sent)
	}
}

func (v *barView) uploaded(i int) {
	v.set(i, func(f *fileState) { f.phase, f.took = "queued", time.Since(f.start) })
	v.bars[i].SetTotal(1000, false)
	v.bars[i].SetCurrent(0)
}

func (v *barView) progress(i int, j client.Job) {
	v.set(i, func(f *fileState) {
		f.progress = j.Progress
		if j.Status == client.StatusProcessing {
			f.phase = "converting"
		}
	})
	v.bars[i].SetCurrent(int64(j.Progress * 1000))
}

func (v *barView) waiting(i int, reason string) {
	v.set(i, func(f *fileState) {
		if f.phase == "queued" {
			f.wait = reason
		}
	})
}

func (v *barView) done(i int, mp3 string) {
	v.set(i, func(f *fileState) { f.phase, f.detail = "done", mp3 })
	v.bars[i].SetTotal(1000, true)
}

func (v *barView) failed(i int, reason string) {
	v.set(i, func(f *fileState) { f.phase, f.detail = "failed", reason })
	v.bars[i].Abort(false)
}

func (v *barView) notice(msg string) { fmt.Fprintln(v.p, msg) }

// close ends the bars that are left (on interrupt) and lists the failures,
// whose reasons a narrow terminal may have cut.
func (v *barView) close() {
	for _, b := range v.bars {
		b.Abort(false)
	}
	v.p.Wait()
	for _, f := range v.files {
		if f.phase == "failed" {
			fmt.Fprintf(v.w, "%s: failed: %s\n", f.name, f.detail)
		}
	}
}
