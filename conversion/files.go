package conversion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/ctxio"
)

// Moving the video and the MP3 between the stores and the scratch dir.

// deleteVideo removes a converted job's source video unless KeepVideos.
func (w *Worker) deleteVideo(ctx context.Context, job *mp3converter.Job, log *slog.Logger) {
	if w.KeepVideos {
		return
	}
	if err := w.Videos.Delete(context.WithoutCancel(ctx), job.VideoFID); err != nil && !errors.Is(err, mp3converter.ErrNotFound) {
		log.Warn("VideoDeleteFailed", "job_id", job.ID, "err", err) // the retention sweep gets it later
	}
}

func gone(err error) error {
	if errors.Is(err, mp3converter.ErrNotFound) {
		return errJobGone
	}
	return err
}

// fetch puts the video blob fid at path, for ffmpeg, which needs a file,
// not a pipe. A store that keeps it on the local disk (a
// mp3converter.LocalPather) gives its file, which is hard-linked, not
// copied; ffmpeg still runs in the job's scratch dir. Where linking fails
// (another filesystem) or the store has no files, the blob is copied.
func (w *Worker) fetch(ctx context.Context, fid, path string) error {
	if lp, ok := w.Videos.(mp3converter.LocalPather); ok {
		stored, err := lp.LocalPath(ctx, fid)
		if err == nil && os.Link(stored, path) == nil {
			return nil
		}
	}
	return w.download(ctx, fid, path)
}

// download copies a video blob to a file: ffmpeg needs a file, not a pipe.
// A store that fetches faster than Get reads (a mp3converter.BlobFetcher,
// S3's parallel ranges) fetches it.
func (w *Worker) download(ctx context.Context, fid, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := w.copyVideo(ctx, fid, f); err != nil {
		f.Close()
		if errors.Is(err, mp3converter.ErrNotFound) {
			return mp3converter.Permanent(mp3converter.Errorf(mp3converter.EINVALID, "the uploaded video is no longer stored"))
		}
		return fmt.Errorf("download video %s: %w", fid, err)
	}
	return f.Close()
}

func (w *Worker) copyVideo(ctx context.Context, fid string, f *os.File) error {
	if fe, ok := w.Videos.(mp3converter.BlobFetcher); ok {
		_, err := fe.Fetch(ctx, fid, f)
		return err
	}
	rc, err := w.Videos.Get(ctx, fid)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = ctxio.Copy(ctx, f, rc)
	return err
}

// storeMP3 stores the file as fid, replacing what an earlier attempt of the
// same job may have stored. A store on the local disk (a
// mp3converter.LocalAdopter) links the file rather than copy it.
func (w *Worker) storeMP3(ctx context.Context, fid, path string) (int64, error) {
	if err := w.MP3s.Delete(ctx, fid); err != nil && !errors.Is(err, mp3converter.ErrNotFound) {
		return 0, fmt.Errorf("replace mp3 %s: %w", fid, err)
	}
	if a, ok := w.MP3s.(mp3converter.LocalAdopter); ok {
		if n, err := a.Adopt(ctx, fid, path); err == nil {
			return n, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := w.MP3s.Put(ctx, fid, f)
	if err != nil {
		return 0, fmt.Errorf("store mp3 %s: %w", fid, err)
	}
	return n, nil
}

func round(seconds float64) time.Duration {
	return time.Duration(seconds * float64(time.Second)).Round(time.Second)
}
