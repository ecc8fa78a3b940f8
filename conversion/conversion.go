// Package conversion is the converter role: it takes jobs off the video
// queue, extracts their audio as MP3 with a mp3converter.Transcoder, stores
// it, and announces it on the mp3 queue.
//
// Handling is idempotent, because the queue delivers at least once: a job
// that is done is not converted again, and the MP3's id is chosen and saved
// on the job before conversion, so a retry replaces the same blob instead of
// leaving an orphan. Failures a retry cannot fix fail the job at once, with a
// reason for the user; others are retried by the queue, and the job fails
// with the last reason when the attempts run out.
//
// An engine's outage (the job store, the blob stores, the queue, or a full
// scratch disk) is waited out, not failed: the attempt is not counted, on
// the job or by the queue, and the job shows queued with why it waits. The
// write that answers for a delivery (queued, failed) is retried until the
// job store takes it, so no job stays processing after an outage; a sweep
// puts back to queued the processing jobs that no converter has updated for
// StaleAfter, whose answers were lost anyway (a converter killed, say).
package conversion

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/consumers"
	"github.com/mp3converter/mp3converter/internal/metrics"
)

// Worker converts the jobs of one queue.
type Worker struct {
	Videos     mp3converter.BlobStore
	MP3s       mp3converter.BlobStore
	Jobs       mp3converter.JobStore
	Queue      mp3converter.Queue
	Transcoder mp3converter.Transcoder

	VideoQueue string // the queue jobs come from ("video")
	MP3Queue   string // the queue results go to ("mp3")
	TempDir    string // where sources and MP3s are written while converting
	// MaxDuration fails longer media: by its probe before converting, and
	// while converting by what ffmpeg decodes, which stops there; 0 for no
	// limit.
	MaxDuration time.Duration
	// MinBudget is the wall-clock time any conversion gets, on top of twice
	// its audio's length (see budget); a minute if 0.
	MinBudget time.Duration
	// MaxPerUser is how many of one user's jobs may be processing at once,
	// across the cluster; Run's n/2, at least 1, if 0 (see admit).
	MaxPerUser int
	// Batch is the most short conversions one run of the Transcoder takes,
	// if it is a mp3converter.BatchTranscoder (see claim); 0 or 1: each
	// runs alone, and Run keeps one handler a worker.
	Batch int
	// KeepVideos keeps a source video after its successful conversion.
	KeepVideos bool
	// Grace is how long conversions in flight may run once Run's context
	// ends, before they are stopped and handed back to the queue.
	Grace time.Duration
	// Policy is the queue's retry policy: its Decide, which the queue
	// carries out, also sets the job's status (see record); its MinPause
	// and MaxPause pace the writes that must outlast an outage of the job
	// store (1 s to 30 s when zero). DefaultRetryPolicy's attempts if 0.
	Policy mp3converter.RetryPolicy
	// StaleAfter is how long a job may stay processing without an update
	// before the sweep puts it back to queued (2 min when zero).
	StaleAfter time.Duration
	// Events, if set, records the job.failed event of each job that fails.
	Events mp3converter.JobEvents
	// Metrics times successful conversions; nil times nothing.
	Metrics *metrics.Metrics
	Logger  *slog.Logger

	held    sync.Map       // ids of the jobs this process converts now
	scratch sync.WaitGroup // scratch dirs of done jobs being removed
	fair    fairShare
	cores   *cores // set by Run; nil: no budget, nothing lent
	batches batches
}

// Run consumes the video queue with n parallel handlers until ctx ends,
// then lets conversions in flight finish within the grace period. Users
// share the handlers fairly: see fairShare; and the CPUs: see cores. A
// consumer that stops before then is logged: the others go on.
func (w *Worker) Run(ctx context.Context, n int) {
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	stop := context.AfterFunc(ctx, func() {
		w.Logger.Info("ConverterStopping", "grace", w.Grace)
		time.AfterFunc(w.Grace, stopWork)
	})
	defer stop()
	go w.sweep(ctx)
	w.cores = newCores(n)
	perUser := cmp.Or(w.MaxPerUser, max(1, n/2))
	consumers.Run(ctx, w.Queue, w.VideoQueue, w.handlers(n), func(_ context.Context, d mp3converter.Delivery) error {
		return w.handle(work, d, perUser)
	}, w.Logger)
	w.scratch.Wait()
}

// handlers is how many deliveries Run handles at once for n workers: one
// each, and with batches (see claim) room for the conversions that wait
// to share a run. A video from a store that is not on the local disk is
// copied to the scratch dir before its length is known, so then only one
// conversion a worker waits: n long videos at most, not n*Batch.
func (w *Worker) handlers(n int) int {
	if _, ok := w.Transcoder.(mp3converter.BatchTranscoder); !ok || w.Batch <= 1 {
		return n
	}
	if _, local := w.Videos.(mp3converter.LocalPather); !local {
		return 2 * n
	}
	return n * w.Batch
}

// errJobGone stops work on a job that was deleted meanwhile.
var errJobGone = errors.New("job deleted")

// Handle converts the job of one delivery. See mp3converter.Queue for what
// its error means.
func (w *Worker) Handle(ctx context.Context, d mp3converter.Delivery) error {
	if ctx.Err() != nil {
		return mp3converter.ErrShutdown
	}
	msg, err := mp3converter.DecodeMessage(d.Body, false)
	if err != nil {
		w.Logger.Error("MessageRejected", "queue", w.VideoQueue, "err", err)
		return err
	}
	job, err := w.begin(ctx, msg, d.Attempt)
	switch {
	case err != nil && ctx.Err() != nil:
		return mp3converter.ErrShutdown
	case err != nil:
		return err
	case job == nil:
		return nil // deleted, or done already
	}
	log := w.Logger.With("job_id", job.ID, "attempt", d.Attempt)
	w.held.Store(job.ID, true)
	defer w.held.Delete(job.ID)
	start := time.Now()
	err = outOfSpace(w.convert(ctx, job, msg.Username, log))
	switch {
	case err == nil:
		log.Info("ConversionDone", "seconds", time.Since(start).Seconds())
		return nil
	case errors.Is(err, errJobGone):
		log.Info("JobGone")
		return nil
	case ctx.Err() != nil:
		err = fmt.Errorf("job %s: %w", job.ID, mp3converter.ErrShutdown)
	}
	w.record(ctx, job, w.policy().Decide(d.Attempt, err), err, log)
	return err
}

// policy is Policy, with DefaultRetryPolicy's attempts if it has none.
func (w *Worker) policy() mp3converter.RetryPolicy {
	p := w.Policy
	if p.MaxAttempts == 0 {
		p.MaxAttempts = mp3converter.DefaultRetryPolicy.MaxAttempts
	}
	return p
}

// record sets the status of job after an attempt that failed with err,
// from the decision the queue carries out: one table says both what
// becomes of the message and of the job.
func (w *Worker) record(ctx context.Context, job *mp3converter.Job, dec mp3converter.Decision, err error, log *slog.Logger) {
	// An attempt counts on the job once it starts converting (start); one
	// that failed before, fetching or probing, counts here, unless it is
	// to be waited out.
	started := job.Status == mp3converter.JobProcessing
	count := 0
	if !started {
		count, job.Attempts = 1, job.Attempts+1
	}
	switch dec.Action {
	case mp3converter.ActionHandBack: // shutting down: the next converter takes it
		w.setStatus(ctx, job.ID, mp3converter.JobQueued, "", 0)
		log.Info("ConversionHandedBack")
	case mp3converter.ActionWait: // not the job's fault: this attempt does not count
		log.Warn("ConversionWaiting", "err", err)
		w.setStatus(ctx, job.ID, mp3converter.JobQueued, waitingReason(err), count-1)
	case mp3converter.ActionDeadLetter:
		reason := mp3converter.ErrorMessage(err)
		if mp3converter.ErrorCode(err) == mp3converter.EINTERNAL || mp3converter.ErrorCode(err) == mp3converter.EUNAVAILABLE {
			reason = fmt.Sprintf("conversion failed after %d attempts because of a server problem; try again later", job.Attempts)
		}
		log.Warn("ConversionFailed", "reason", reason, "err", err)
		w.setStatus(ctx, job.ID, mp3converter.JobFailed, reason, count)
		w.jobFailed(ctx, job.ID, log)
		if job.MP3FID == "" {
			break // it never started: no MP3
		}
		if err := w.MP3s.Delete(context.WithoutCancel(ctx), job.MP3FID); err != nil && !errors.Is(err, mp3converter.ErrNotFound) {
			log.Error("MP3DeleteFailed", "err", err)
		}
	default: // ActionRetry
		log.Warn("ConversionAttemptFailed", "err", err)
		w.setStatus(ctx, job.ID, mp3converter.JobQueued, fmt.Sprintf("attempt %d failed (%s); retrying", job.Attempts, mp3converter.ErrorMessage(err)), count)
	}
}

// begin finds the job of msg; the attempt counts once it has a core
// (start). It returns a nil job when there is nothing to do: the job was deleted, or a
// redelivery finds it done.
func (w *Worker) begin(ctx context.Context, msg mp3converter.Message, attempt int) (*mp3converter.Job, error) {
	job, err := w.job(ctx, msg)
	if errors.Is(err, errJobGone) {
		w.Logger.Info("JobGone", "job_id", msg.JobID)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if job.Status == mp3converter.JobDone {
		// An attempt that stored and announced the MP3 but could not record
		// it (the job store was down) left its video: the announcement made
		// the job done meanwhile, so finish that attempt's work.
		w.Logger.Info("JobAlreadyDone", "job_id", job.ID, "attempt", attempt)
		w.deleteVideo(ctx, job, w.Logger)
		return nil, nil
	}
	// This attempt's view: queued until start, which record reads to tell
	// an attempt that started (and counted) from one that did not.
	job.Status = mp3converter.JobQueued
	return job, nil
}

// job finds the job of msg. A seed gateway sends no job_id: its job is then
// keyed by the video's fid and created on first sight.
func (w *Worker) job(ctx context.Context, msg mp3converter.Message) (*mp3converter.Job, error) {
	if msg.JobID != "" {
		j, err := w.Jobs.Job(ctx, msg.JobID)
		if errors.Is(err, mp3converter.ErrNotFound) {
			return nil, errJobGone
		}
		return j, err
	}
	j, err := w.Jobs.Job(ctx, msg.VideoFID)
	if !errors.Is(err, mp3converter.ErrNotFound) {
		return j, err
	}
	owner, err := mp3converter.NormalizeEmail(msg.Username)
	if err != nil {
		return nil, mp3converter.Permanent(err)
	}
	j = &mp3converter.Job{ID: msg.VideoFID, Owner: owner, VideoFID: msg.VideoFID}
	if err := w.describeForeign(ctx, j, msg.Filename); err != nil {
		return nil, err
	}
	if err := w.Jobs.CreateJob(ctx, j); errors.Is(err, mp3converter.ErrConflict) {
		return w.Jobs.Job(ctx, msg.VideoFID)
	} else if err != nil {
		return nil, err
	}
	return j, nil
}

// describeForeign names and sizes the job of an upload that the original
// gateway stored: from GridFS's filename where it has one, else after the
// upload's time, so that the MP3 downloads under a name a person accepts.
func (w *Worker) describeForeign(ctx context.Context, j *mp3converter.Job, name string) error {
	info, err := mp3converter.StatBlob(ctx, w.Videos, j.VideoFID)
	if errors.Is(err, mp3converter.ErrNotFound) {
		return errJobGone
	}
	if err != nil {
		return err
	}
	j.Size = info.Size
	name = cmp.Or(name, info.Name)
	if name == "" {
		at := info.Created
		if at.IsZero() {
			at = time.Now()
		}
		name = "video-" + at.UTC().Format("2006-01-02-150405")
	}
	j.Filename = mp3converter.SanitizeFilename(name)
	return nil
}

// setStatus records the outcome of an attempt, and adds count (-1, 0 or
// 1) to the job's attempts: see record. The delivery is
// answered only once the job says what became of it: while the job store is
// unavailable setStatus keeps trying, with growing pauses, until ctx ends;
// once it has ended (shutting down) it tries for 10 s more.
func (w *Worker) setStatus(ctx context.Context, id string, status mp3converter.JobStatus, reason string, count int) {
	err := w.Policy.Outlast(ctx, func(ctx context.Context) error {
		_, err := w.Jobs.UpdateJob(ctx, id, func(j *mp3converter.Job) error {
			j.Status, j.Error = status, reason
			if status != mp3converter.JobDone {
				j.Progress = 0
			}
			j.Attempts = max(0, j.Attempts+count)
			return nil
		})
		return err
	})
	if err != nil && !errors.Is(err, mp3converter.ErrNotFound) {
		w.Logger.Error("JobUpdateFailed", "job_id", id, "err", err)
	}
}

// waitingReason tells the user why a job waits.
func waitingReason(err error) string {
	if mp3converter.IsOutOfSpace(err) {
		return "waiting for disk space on the converter; the conversion resumes by itself"
	}
	return "waiting for a storage or queue service to come back; the conversion resumes by itself"
}

// outOfSpace marks as ENOSPC an error that says so only in its text, as
// ffmpeg's does when the scratch disk fills up.
func outOfSpace(err error) error {
	if err == nil || mp3converter.IsOutOfSpace(err) || mp3converter.IsPermanent(err) {
		return err
	}
	if s := err.Error(); strings.Contains(s, "No space left on device") || strings.Contains(s, "Disk quota exceeded") {
		return fmt.Errorf("%w: %w", syscall.ENOSPC, err)
	}
	return err
}

// sweep puts back to queued, every half StaleAfter until ctx ends, the
// processing jobs that no converter has updated for StaleAfter and that
// this process does not hold: their converter died, or their last status
// write was lost. Their message is still on the queue, so they convert
// again; one that a live converter elsewhere still converts is only shown
// queued until it is done.
func (w *Worker) sweep(ctx context.Context) {
	stale := cmp.Or(w.StaleAfter, 2*time.Minute)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(stale / 2):
		}
		w.requeueStale(ctx, stale)
	}
}

// requeueStale is one pass of sweep.
func (w *Worker) requeueStale(ctx context.Context, stale time.Duration) {
	before := time.Now().Add(-stale)
	jobs, err := w.Jobs.ListJobs(ctx, mp3converter.JobFilter{Status: mp3converter.JobProcessing, UpdatedBefore: before, Limit: 100})
	if err != nil {
		w.Logger.Warn("StaleJobSweepFailed", "err", err)
		return
	}
	for _, j := range jobs {
		if _, held := w.held.Load(j.ID); held {
			continue
		}
		_, err := w.Jobs.UpdateJob(ctx, j.ID, func(j *mp3converter.Job) error {
			if j.Status != mp3converter.JobProcessing || !j.UpdatedAt.Before(before) {
				return errNotStale
			}
			j.Status, j.Progress, j.Error = mp3converter.JobQueued, 0, "interrupted; waiting to be converted again"
			return nil
		})
		switch {
		case err == nil:
			w.Logger.Info("StaleJobRequeued", "job_id", j.ID, "updated_at", j.UpdatedAt)
		case !errors.Is(err, errNotStale) && !errors.Is(err, mp3converter.ErrNotFound):
			w.Logger.Warn("StaleJobSweepFailed", "job_id", j.ID, "err", err)
		}
	}
}

// errNotStale leaves a job that was updated meanwhile.
var errNotStale = errors.New("job updated meanwhile")

// convert converts job's video and announces the MP3 for the owner's
// address as the upload's message spells it (username), which the
// notification mails.
func (w *Worker) convert(ctx context.Context, job *mp3converter.Job, username string, log *slog.Logger) (err error) {
	start := time.Now()
	dir, err := os.MkdirTemp(w.TempDir, "job-"+job.ID+"-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer func() { w.removeScratch(dir, err == nil) }()

	src := filepath.Join(dir, "source")
	if err := w.fetch(ctx, job.VideoFID, src); err != nil {
		return err
	}
	info, err := w.Transcoder.Probe(ctx, src)
	if err != nil {
		return err
	}
	if w.MaxDuration > 0 && info.Duration > w.MaxDuration.Seconds() {
		return mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID,
			"the media lasts %s, longer than the %s limit", round(info.Duration), w.MaxDuration))
	}
	// The probed duration is written with the first progress (see watch):
	// no write of its own before ffmpeg starts.

	dst := filepath.Join(dir, "audio.mp3")
	res, err := w.transcode(ctx, job, info, src, dst, log)
	if err != nil {
		return err
	}

	size, err := w.storeMP3(ctx, job.MP3FID, dst)
	if err != nil {
		return err
	}
	if err := w.finish(ctx, job, username, size, res); err != nil {
		return err
	}
	w.Metrics.Conversion(time.Since(start), res.Duration)
	w.deleteVideo(ctx, job, log)
	return nil
}

// removeScratch removes a job's scratch dir: in the background once the
// job is done, since freeing its source's blocks takes milliseconds (more
// on a disk mounted with discard, which trims them) that the next job need
// not wait for; at once otherwise, so that a failed or deleted job has left
// nothing by the time it shows. Run waits for the removals.
func (w *Worker) removeScratch(dir string, done bool) {
	if !done {
		os.RemoveAll(dir)
		return
	}
	w.scratch.Go(func() { os.RemoveAll(dir) })
}

// finish announces the MP3 on the mp3 queue, then marks the job done; a
// job deleted meanwhile loses its MP3.
func (w *Worker) finish(ctx context.Context, job *mp3converter.Job, username string, size int64, res *mp3converter.TranscodeResult) error {
	msg := mp3converter.Message{VideoFID: job.VideoFID, MP3FID: job.MP3FID, Username: username, JobID: job.ID, Filename: job.Filename}
	body, _ := msg.MarshalJSON()
	// What the MP3 is goes on the job before the announcement, since the
	// notification role may mark the job done before this process does.
	record := func(j *mp3converter.Job) error {
		j.MP3Size, j.Copied, j.Duration = size, res.Copied, res.Duration
		return nil
	}
	if _, err := w.Jobs.UpdateJob(ctx, job.ID, record); err != nil {
		if errors.Is(err, mp3converter.ErrNotFound) {
			w.MP3s.Delete(context.WithoutCancel(ctx), job.MP3FID) // deleted while converting
		}
		return gone(err)
	}
	// Announce first: a job marked done before its announcement is durable
	// would never be mailed if this process died in between.
	if err := w.Queue.Publish(ctx, w.MP3Queue, body); err != nil {
		return fmt.Errorf("publish to %s: %w", w.MP3Queue, err)
	}
	// The MP3 is stored and announced: wait out a job store outage here
	// rather than convert again on redelivery.
	err := w.Policy.Outlast(ctx, func(ctx context.Context) error {
		_, err := w.Jobs.UpdateJob(ctx, job.ID, func(j *mp3converter.Job) error {
			j.Status, j.Progress, j.Error = mp3converter.JobDone, 1, ""
			return record(j)
		})
		return err
	})
	if errors.Is(err, mp3converter.ErrNotFound) {
		// Deleted while converting: leave nothing behind.
		w.MP3s.Delete(context.WithoutCancel(ctx), job.MP3FID)
	}
	return gone(err)
}
