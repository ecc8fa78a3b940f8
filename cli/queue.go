package cli

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/mp3converter/mp3converter/client"
)

// queueEvery is how often convert asks where its queued jobs stand: two
// requests (GET /jobs?status=queued, ?status=processing) each time, and
// none while no job it follows is queued.
const queueEvery = 2 * time.Second

// watchQueue tells the view why each job it follows that is queued waits,
// every b.queueEvery until ctx ends: "2 of your jobs ahead" (the user's
// jobs converting, and those queued before it), or "waiting for a
// converter" when none of theirs are ahead (everyone's jobs share the
// converters; others' are not the user's to see). A failed request is
// tried again next time.
func (b *batch) watchQueue(ctx context.Context) {
	t := time.NewTicker(b.queueEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		waiting := b.queued()
		if len(waiting) == 0 {
			continue
		}
		queued, err := b.c.Jobs(ctx, client.JobQuery{Status: client.StatusQueued, Limit: 1000})
		if err != nil {
			continue
		}
		processing, err := b.c.Jobs(ctx, client.JobQuery{Status: client.StatusProcessing, Limit: 1000})
		if err != nil {
			continue
		}
		for i, reason := range waitReasons(waiting, queued, len(processing)) {
			b.view.waiting(i, reason)
		}
	}
}

// queued returns the jobs followed that may still be queued, by file
// index: uploaded, and not known to have started.
func (b *batch) queued() map[int]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[int]string{}
	for i, id := range b.ids {
		if st := b.jobs.Get(id); !st.Known || st.Job.Status == client.StatusQueued {
			out[i] = id
		}
	}
	return out
}

// waitReasons says why each waiting job (file index to job id) waits,
// from the user's queued jobs and the number converting; a job not in
// queued (started meanwhile) gets none.
func waitReasons(waiting map[int]string, queued []client.Job, processing int) map[int]string {
	out := map[int]string{}
	for i, id := range waiting {
		k := slices.IndexFunc(queued, func(j client.Job) bool { return j.ID == id })
		if k < 0 {
			continue
		}
		ahead := processing
		for _, q := range queued {
			if q.CreatedAt.Before(queued[k].CreatedAt) || q.CreatedAt.Equal(queued[k].CreatedAt) && q.ID < id {
				ahead++
			}
		}
		out[i] = waitReason(ahead)
	}
	return out
}

func waitReason(ahead int) string {
	if ahead == 0 {
		return "waiting for a converter"
	}
	return fmt.Sprintf("%d of your jobs ahead", ahead)
}
