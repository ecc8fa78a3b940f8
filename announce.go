package mp3converter

import (
	"context"
	"errors"
	"fmt"
)

// RecordAnnouncedMP3 makes a job say what a message on the mp3 queue
// announces: its MP3 exists. Any converter may have sent it, ours or the
// original's, which stores the MP3 and announces it but never touches our
// jobs. The job is msg's job_id, or for a message without one, the job
// keyed by the video's fid.
//
// It returns the job as it now stands, or nil if there is none (a message
// of the original system's own). A job already done is left as it is, so
// redelivery changes nothing and our converter's own result stands. A
// message that names another user's job, or another video, is refused with
// a Permanent EFORBIDDEN error. An MP3 not in mp3s yet gives an error to
// retry on.
func RecordAnnouncedMP3(ctx context.Context, jobs JobStore, mp3s BlobStore, msg Message) (*Job, error) {
	id := msg.JobID
	if id == "" {
		id = msg.VideoFID
	}
	job, err := jobs.Job(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if job.Owner != Owner(msg.Username) || job.VideoFID != msg.VideoFID {
		return nil, Permanent(Errorf(EFORBIDDEN, "the message names job %s of another user or video", job.ID))
	}
	if job.Status == JobDone {
		return job, nil
	}
	info, err := StatBlob(ctx, mp3s, msg.MP3FID)
	if err != nil {
		return nil, fmt.Errorf("announced MP3 %s: %w", msg.MP3FID, err)
	}
	job, err = jobs.UpdateJob(ctx, job.ID, func(j *Job) error {
		if j.Status == JobDone {
			return nil // our converter finished it meanwhile
		}
		j.Status, j.MP3FID, j.MP3Size, j.Progress, j.Error = JobDone, msg.MP3FID, info.Size, 1, ""
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return job, err
}
