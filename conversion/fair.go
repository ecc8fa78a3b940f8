package conversion

import (
	"cmp"
	"context"
	"errors"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Fair sharing of the converters: one user's long or many jobs may not take
// every converter while another user waits. A handler admits the first
// delivery of a job while its owner has fewer than MaxPerUser jobs
// processing (in the job store, which counts the whole cluster, or claimed
// by this process's handlers, which the store may not show yet), or while
// no other user under their share has a job queued: a converter is never
// left idle while jobs wait, so a lone user gets every converter, and a
// user who arrives then waits for one running job to end, not for the
// queue ahead. A job not admitted goes to the tail of the queue, as a new message, so that it
// spends no attempt; the queue's own hand-back (ErrShutdown) would not do,
// since goqite delivers the oldest message first and would hand the same
// one straight back, ahead of other users' jobs. A redelivery (attempt 2
// on) is always admitted, so that deferring never resets an attempt count.
type fairShare struct {
	mu       sync.Mutex
	running  map[string]int // owner: handlers of this process converting their jobs
	deferred int            // jobs deferred since this process last admitted one
}

// turnPause is the longest a handler waits before deferring a job that is
// not admitted, so that a queue whose admissible jobs cannot be had here
// (held back for a retry, or by another converter) is not spun through.
// The first deferral since a job was admitted does not wait: usually the
// other user's job is next in the queue, and a pause would leave a
// converter idle (BenchmarkThroughput's two users lost 0.03 of the
// throughput to it); each further one waits twice as long, from
// firstPause up to turnPause.
const (
	turnPause  = 500 * time.Millisecond
	firstPause = 25 * time.Millisecond
)

// pause returns how long to wait before deferring a job, and counts it.
func (f *fairShare) pause() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.deferred
	f.deferred++
	if n == 0 {
		return 0
	}
	return min(firstPause<<min(n-1, 10), turnPause)
}

// handle is the video queue's handler: Handle, for the jobs admitted.
func (w *Worker) handle(ctx context.Context, d mp3converter.Delivery, perUser int) error {
	release, ok := w.admit(ctx, d, perUser)
	if !ok {
		return w.deferJob(ctx, d)
	}
	defer release()
	return w.Handle(ctx, d)
}

// admit reports whether the job of d may start now, with the function to
// call once it is handled. A message it cannot place (undecodable, or the
// job store unavailable) is admitted: Handle decides what to do with it.
func (w *Worker) admit(ctx context.Context, d mp3converter.Delivery, perUser int) (release func(), ok bool) {
	owner, id := ownerOf(d)
	if owner == "" {
		return func() {}, true
	}
	w.fair.mu.Lock()
	defer w.fair.mu.Unlock()
	if d.Attempt <= 1 && (w.fair.running[owner] >= perUser || w.processing(ctx, owner, id, perUser) >= perUser) &&
		w.othersWaiting(ctx, owner, perUser) {
		return nil, false
	}
	if w.fair.running == nil {
		w.fair.running = map[string]int{}
	}
	w.fair.running[owner]++
	w.fair.deferred = 0
	return func() {
		w.fair.mu.Lock()
		defer w.fair.mu.Unlock()
		if w.fair.running[owner]--; w.fair.running[owner] <= 0 {
			delete(w.fair.running, owner)
		}
	}, true
}

// ownerOf returns the owner and id of d's job, as its message names them
// (the gateway writes the job's owner as the message's username), or ""
// for a message Handle will reject.
func ownerOf(d mp3converter.Delivery) (owner, id string) {
	msg, err := mp3converter.DecodeMessage(d.Body, false)
	if err != nil {
		return "", ""
	}
	owner, err = mp3converter.NormalizeEmail(msg.Username)
	if err != nil {
		return "", ""
	}
	return owner, cmp.Or(msg.JobID, msg.VideoFID) // a seed gateway's job is keyed by the video
}

// othersWaiting reports whether a user other than owner, with fewer than
// perUser jobs processing, has a job queued: true if the store cannot say,
// which keeps the share strict.
func (w *Worker) othersWaiting(ctx context.Context, owner string, perUser int) bool {
	queued, err := w.Jobs.ListJobs(ctx, mp3converter.JobFilter{Status: mp3converter.JobQueued, NotOwner: owner, Limit: 50})
	if err != nil || len(queued) == 0 {
		return err != nil
	}
	// Processing jobs are as many as the cluster's converters: few.
	running, err := w.Jobs.ListJobs(ctx, mp3converter.JobFilter{Status: mp3converter.JobProcessing, Limit: 1000})
	if err != nil {
		return true
	}
	count := map[string]int{}
	for _, j := range running {
		count[j.Owner]++
	}
	// A queued job that a handler here holds waits for a core, not in
	// the queue: it counts as its owner's running one.
	var waiting []*mp3converter.Job
	for _, j := range queued {
		if _, held := w.held.Load(j.ID); held {
			count[j.Owner]++
		} else {
			waiting = append(waiting, j)
		}
	}
	for _, j := range waiting {
		if count[j.Owner] < perUser {
			return true
		}
	}
	return false
}

// processing counts owner's processing jobs other than id in the job store,
// up to limit; 0 if the store cannot say.
func (w *Worker) processing(ctx context.Context, owner, id string, limit int) int {
	jobs, err := w.Jobs.ListJobs(ctx, mp3converter.JobFilter{Owner: owner, Status: mp3converter.JobProcessing, Limit: limit + 1})
	if err != nil {
		w.Logger.Warn("FairShareCountFailed", "err", err)
		return 0
	}
	n := 0
	for _, j := range jobs {
		if j.ID != id {
			n++
		}
	}
	return n
}

// deferJob puts d back at the tail of the queue, as a new message, after
// a pause (see turnPause). If it cannot, the queue hands d back
// (ErrShutdown).
func (w *Worker) deferJob(ctx context.Context, d mp3converter.Delivery) error {
	select {
	case <-ctx.Done():
		return mp3converter.ErrShutdown
	case <-time.After(w.fair.pause()):
	}
	if err := w.Queue.Publish(ctx, w.VideoQueue, d.Body); err != nil {
		return errors.Join(mp3converter.ErrShutdown, err)
	}
	w.Logger.Debug("JobDeferred", "reason", "its owner has their share of converters")
	return nil
}
