package mp3converter

import (
	"context"
	"errors"
	"fmt"
)

// DeleteJobAndFiles removes a job's video and MP3, then the job: what a
// user's delete and the retention sweep both do. A file already gone is
// not an error. It returns ErrNotFound if the job is gone, and the stores'
// other errors.
//
// Files go first, so that a failure leaves a job that can be deleted
// again rather than files nothing names. A converter working on the job
// meanwhile finds it gone at its next progress write (within a second),
// stops ffmpeg and removes its scratch files and any MP3 it stored;
// the MP3 is deleted again after the job for the case where it finished
// just before.
func DeleteJobAndFiles(ctx context.Context, jobs JobStore, videos, mp3s BlobStore, j *Job) error {
	if err := deleteBlob(ctx, videos, j.VideoFID); err != nil {
		return err
	}
	if err := deleteBlob(ctx, mp3s, j.MP3FID); err != nil {
		return err
	}
	if err := jobs.DeleteJob(ctx, j.ID); err != nil {
		return err
	}
	if j.MP3FID != "" {
		if cur, err := jobs.JobByMP3(ctx, j.MP3FID); errors.Is(err, ErrNotFound) || err == nil && cur.ID == j.ID {
			return deleteBlob(ctx, mp3s, j.MP3FID)
		}
	}
	return nil
}

// deleteBlob deletes blob id of s, if any.
func deleteBlob(ctx context.Context, s BlobStore, id string) error {
	if id == "" {
		return nil
	}
	if err := s.Delete(ctx, id); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete %s: %w", id, err)
	}
	return nil
}
