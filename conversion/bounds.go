package conversion

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mp3converter/mp3converter"
)

// errOverBudget stops a conversion that ran past its budget.
var errOverBudget = errors.New("conversion over its time budget")

// progressEvery is how often a running conversion's progress is written on
// its job; each write also finds out whether the job was deleted.
const progressEvery = time.Second

// transcode runs the Transcoder on src within the job's limits, on a core
// of the budget (see cores), lending it more for a long file, or in a
// batch with other short files (see claim): ffmpeg
// decodes at most MaxDuration of audio, and is stopped after budget. Every
// progressEvery it writes the progress on the job, which keeps the job
// fresh for the stale-job sweep and notices a job deleted meanwhile: the
// conversion is then stopped and errJobGone returned, and convert's
// deferred cleanup frees the scratch files.
func (w *Worker) transcode(ctx context.Context, job *mp3converter.Job, info *mp3converter.MediaInfo, src, dst string, log *slog.Logger) (*mp3converter.TranscodeResult, error) {
	var progress atomic.Uint64 // float64 bits
	cv := mp3converter.Conversion{Src: src, Dst: dst, Info: info, Opts: mp3converter.TranscodeOptions{
		MaxDuration: w.MaxDuration, Title: title(job, info), Audio: job.Options,
		Progress: func(p float64) { progress.Store(math.Float64bits(p)) },
	}}
	convert := func(ctx context.Context) (*mp3converter.TranscodeResult, error) {
		return w.Transcoder.ToMP3(ctx, src, dst, info, cv.Opts)
	}
	if w.cores != nil {
		// ffmpeg's work waits for a core, not its budget.
		bt, _ := w.Transcoder.(mp3converter.BatchTranscoder)
		run, release, err := w.claim(ctx, job.Owner, cv, bt, log)
		if err != nil {
			return nil, err
		}
		defer release()
		convert = run
	}
	if err := w.start(ctx, job, log); err != nil {
		return nil, err
	}
	budget := w.budget(info)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ctx, stop := context.WithTimeoutCause(ctx, budget, errOverBudget)
	defer stop()

	watching, stopWatching := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		w.watch(watching, job.ID, info.Duration, &progress, cancel, log)
	}()
	res, err := convert(ctx)
	stopWatching()
	<-watched // no progress write may land after the job's final one
	switch cause := context.Cause(ctx); {
	case err == nil:
		if res.Segments > 0 {
			log.Info("EncodedInParallel", "segments", res.Segments, "seconds", res.Duration)
		}
		return res, nil
	case errors.Is(cause, errJobGone):
		return nil, errJobGone
	case errors.Is(cause, errOverBudget):
		return nil, mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID,
			"the conversion took longer than its %s budget: the file is too slow to decode", budget))
	}
	return nil, err
}

// start records the start of the attempt on job, now that it has a core:
// processing, an attempt more, and the id its MP3 is stored under, kept
// from an earlier attempt so that a retry replaces the same blob. A job
// waiting for a core in this process shows queued, as in the queue.
func (w *Worker) start(ctx context.Context, job *mp3converter.Job, log *slog.Logger) error {
	j, err := w.Jobs.UpdateJob(ctx, job.ID, func(j *mp3converter.Job) error {
		if j.MP3FID == "" {
			j.MP3FID = mp3converter.NewID()
		}
		j.Status, j.Progress, j.Error = mp3converter.JobProcessing, 0, ""
		j.Attempts++
		return nil
	})
	if err != nil {
		return gone(err)
	}
	*job = *j
	log.Info("ConversionStarted", "video_fid", job.VideoFID, "mp3_fid", job.MP3FID)
	return nil
}

// watch writes the latest progress on job id every progressEvery until ctx
// ends, with the probed duration, and calls gone with errJobGone when the
// job is no longer stored. A conversion shorter than progressEvery writes
// nothing: the done write says it all.
func (w *Worker) watch(ctx context.Context, id string, duration float64, progress *atomic.Uint64, gone context.CancelCauseFunc, log *slog.Logger) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p := math.Float64frombits(progress.Load())
		_, err := w.Jobs.UpdateJob(ctx, id, func(j *mp3converter.Job) error { j.Progress, j.Duration = p, duration; return nil })
		switch {
		case errors.Is(err, mp3converter.ErrNotFound):
			log.Info("JobDeletedWhileConverting")
			gone(errJobGone)
			return
		case err != nil && ctx.Err() == nil:
			log.Warn("ProgressUpdateFailed", "err", err)
		}
	}
}

// budget is the wall-clock time ffmpeg gets for one job: MinBudget (a
// minute if 0) plus twice the audio's playing time, as probed, or the
// limit if the probe says more or nothing. ffmpeg decodes and encodes
// audio 50 to 500 times faster than it plays, so only a stuck process or a
// pathological file runs out of it. A probe that estimates short (see
// mp3converter.MediaInfo.Duration) gives a short budget, but then ffmpeg
// also stops at the limit.
func (w *Worker) budget(info *mp3converter.MediaInfo) time.Duration {
	d := time.Duration(info.Duration * float64(time.Second))
	if w.MaxDuration > 0 && (d <= 0 || d > w.MaxDuration) {
		d = w.MaxDuration
	}
	return cmp.Or(w.MinBudget, time.Minute) + 2*d
}

// title is the MP3's title: the uploader's title option, else the source's
// title tag, or else the upload's file name without its extension.
func title(job *mp3converter.Job, info *mp3converter.MediaInfo) string {
	return cmp.Or(job.Options.Title, info.Title, strings.TrimSuffix(job.Filename, filepath.Ext(job.Filename)))
}
