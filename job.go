package mp3converter

import (
	"context"
	"time"
)

// JobStatus is where a job is in its life.
type JobStatus string

const (
	JobQueued     JobStatus = "queued"     // accepted, waiting for a converter (also between retries)
	JobProcessing JobStatus = "processing" // a converter is working on it
	JobDone       JobStatus = "done"       // the MP3 is stored; MP3FID names it
	JobFailed     JobStatus = "failed"     // gave up; Error says why
)

// Job is one uploaded video and its conversion.
type Job struct {
	ID       string
	Owner    string // the uploader's email
	Status   JobStatus
	Filename string // the uploaded file's name, sanitised
	VideoFID string
	MP3FID   string // chosen when conversion starts, so a retry reuses it
	Error    string // why the job failed, or why the last attempt did
	Attempts int    // conversion attempts started
	Progress float64
	// Duration is the source audio's length in seconds, once probed.
	Duration float64
	Size     int64 // uploaded bytes
	MP3Size  int64
	Copied   bool // the source audio was MP3 and was copied, not re-encoded
	// Options are how the uploader asked for the MP3 to be made.
	Options   Options
	CreatedAt time.Time
	UpdatedAt time.Time
	// NotifiedAt is when the user was told the MP3 is ready; nil until then.
	NotifiedAt *time.Time
}

// JobFilter selects jobs for ListJobs. Zero fields match everything.
type JobFilter struct {
	Owner string
	// NotOwner leaves out this owner's jobs: the fair share asks whether
	// anybody else is waiting.
	NotOwner      string
	Status        JobStatus
	UpdatedBefore time.Time
	// UpdatedAfter selects jobs changed after it and orders them by
	// UpdatedAt, oldest first, so that a poller can follow changes.
	UpdatedAfter time.Time
	// Before, if its ID is set, pages through the newest-first order: it
	// selects the jobs listed after Before, those created before it or at
	// the same time with a smaller ID. Not with UpdatedAfter.
	Before JobCursor
	// NameContains selects the jobs whose Filename contains it, in any
	// case (see NameContainsMax); empty matches every job.
	NameContains string
	Limit        int
}

// JobCursor is a place in ListJobs' newest-first order: the job at it has
// these CreatedAt and ID.
type JobCursor struct {
	CreatedAt time.Time
	ID        string
}

// NameContainsMax is the most characters of JobFilter.NameContains that a
// gateway takes.
const NameContainsMax = 200

// JobStore keeps jobs.
type JobStore interface {
	// CreateJob stores j, setting CreatedAt and UpdatedAt. ErrConflict if
	// j.ID exists.
	CreateJob(ctx context.Context, j *Job) error
	// Job returns ErrNotFound when there is no such job.
	Job(ctx context.Context, id string) (*Job, error)
	// JobByMP3 finds the job whose MP3FID is fid; ErrNotFound if none.
	JobByMP3(ctx context.Context, fid string) (*Job, error)
	// ListJobs returns matching jobs, newest first (by UpdatedAt, oldest
	// first, when f.UpdatedAfter is set).
	ListJobs(ctx context.Context, f JobFilter) ([]*Job, error)
	// UpdateJob applies fn to the stored job atomically and saves the
	// result, setting UpdatedAt. It returns ErrNotFound if there is no such
	// job, or fn's error, in which case nothing is saved.
	UpdateJob(ctx context.Context, id string, fn func(*Job) error) (*Job, error)
	// DeleteJob removes a job; ErrNotFound if absent.
	DeleteJob(ctx context.Context, id string) error
}

// RequeueProcessing marks every processing job queued again, with no
// progress. A process that owns all the work calls it at start, after a
// crash: those jobs' messages are about to be delivered again.
func RequeueProcessing(ctx context.Context, jobs JobStore) (int, error) {
	stuck, err := jobs.ListJobs(ctx, JobFilter{Status: JobProcessing})
	if err != nil {
		return 0, err
	}
	for _, j := range stuck {
		if _, err := jobs.UpdateJob(ctx, j.ID, func(j *Job) error {
			j.Status, j.Progress = JobQueued, 0
			return nil
		}); err != nil {
			return 0, err
		}
	}
	return len(stuck), nil
}

// JobStats are a job store's counts, for metrics.
type JobStats struct {
	ByStatus map[JobStatus]int
	// OldestQueued is when the oldest queued job was created; zero when
	// none is queued.
	OldestQueued time.Time
}

// JobCounter is implemented by job stores that count their jobs cheaply,
// so that metrics need not list them.
type JobCounter interface {
	// JobStats counts the jobs by status. Its errors are the store's.
	JobStats(ctx context.Context) (JobStats, error)
}

// Deletion is a job deleted: what a feed tells the owner's streams.
type Deletion struct {
	ID, Owner string
	At        time.Time
}

// JobDeletions is implemented by job stores that remember deletions for a
// while (DeletionsKept), so that the feed of every gateway, not only the
// deleting one's, tells its streams.
type JobDeletions interface {
	// DeletedSince returns the deletions after since, oldest first, at most
	// limit. Its errors are the store's.
	DeletedSince(ctx context.Context, since time.Time, limit int) ([]Deletion, error)
}

// DeletionsKept is how long a store remembers a deletion.
const DeletionsKept = time.Hour

// JobOwnerCounter is implemented by job stores that count one owner's jobs
// cheaply, for the cap on the jobs a user keeps, so that the gateway need
// not list them.
type JobOwnerCounter interface {
	// CountJobs counts owner's jobs, whatever their status. Its errors are
	// the store's.
	CountJobs(ctx context.Context, owner string) (int, error)
}
