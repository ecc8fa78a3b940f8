package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/mp3converter/mp3converter/client"
	"github.com/mp3converter/mp3converter/internal/bytesize"
	"github.com/mp3converter/mp3converter/internal/cmdflag"
)

// RunConvert uploads each file with the upload options given, follows its
// conversion and downloads its MP3 into -o: convert [--server URL] [-o
// DIR] [--bitrate 128 --channels mono ...] FILE... It returns an error
// unless every file converted; each failure's reason is printed.
func RunConvert(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, s := clientFlags("convert", stderr)
	var out string
	f.StringVar(&out, "o", ".", "the directory to write the MP3s into")
	options := addOptionFlags(f)
	var resumableAbove bytesize.Size
	f.Env(&resumableAbove, "resumable-above", []string{"MP3CONVERTER_RESUMABLE_ABOVE"}, bytesize.Format(client.ResumableAbove),
		"files larger than this are sent with resumable uploads (/files/), which a later run on the same file resumes")
	if err := f.ParseWithArgs(args); err != nil {
		return err
	}
	if f.NArg() == 0 {
		return cmdflag.Usagef("convert: name the files to convert")
	}
	if err := checkOptions(options); err != nil {
		return err
	}
	if err := checkFiles(f.Args()); err != nil {
		return err
	}
	c, err := s.client()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := &batch{c: c, out: out, options: options, view: newView(ctx, stdout, f.Args()), jobs: client.NewTracker(),
		poll: time.Second, queueEvery: queueEvery, ids: map[int]string{}, resumableAbove: int64(resumableAbove)}
	if path, err := client.UploadStatePath(); err == nil {
		b.state = &client.UploadState{Path: path}
	}
	go b.follow(ctx)
	go b.watchQueue(ctx)
	failed := b.run(ctx, f.Args())
	b.view.close()
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case failed > 0:
		return fmt.Errorf("%d of %d files did not convert", failed, f.NArg())
	}
	return nil
}

// checkFiles opens each file, so that a name mistyped, a file not
// readable or a directory stops the command before anything is sent,
// rather than after the other files' conversions: one line per such
// file, naming it as given ("missing.mp4: no such file or directory").
func checkFiles(paths []string) error {
	var errs []error
	for _, p := range paths {
		if err := readable(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, pathReason(err))
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", path, pathReason(err))
	case st.IsDir():
		return fmt.Errorf("%s: is a directory; name the videos in it", path)
	case !st.Mode().IsRegular():
		return fmt.Errorf("%s: not a regular file", path)
	}
	return nil
}

// pathReason is a file error without its operation and path ("no such
// file or directory"), for a message that names the file as given.
func pathReason(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// barWidth is the width of the terminal w, where progress bars go, and 0
// when w is not a terminal of a known size: bars need it to redraw in
// place.
func barWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return 0
	}
	cols, rows, err := term.GetSize(int(f.Fd()))
	if err != nil || cols <= 0 || rows <= 0 {
		return 0
	}
	return cols
}

// batch is one convert command's files: it uploads them one at a time
// while the conversions and downloads of those uploaded go on. (Not
// "converter": that is the server's role that runs ffmpeg.)
type batch struct {
	c       *client.Client
	out     string
	options url.Values // the upload's form fields
	view    view
	jobs    *client.Tracker
	poll    time.Duration // GET /jobs/{id} interval once the event stream failed

	queueEvery time.Duration // how often a queued job's place is asked (watchQueue)
	mu         sync.Mutex
	ids        map[int]string // the jobs uploaded, by file index

	resumableAbove int64               // larger files go through /files/
	state          *client.UploadState // their URLs, so that a later run resumes them
}

// upload sends the file at path, through /files/ if it is larger than
// b.resumableAbove, else through /upload.
func (b *batch) upload(ctx context.Context, i int, path string) (*client.Accepted, error) {
	if st, err := os.Stat(path); err == nil && st.Size() > b.resumableAbove {
		return b.c.UploadFileResumable(ctx, path, b.options, b.view.uploading(i), b.state)
	}
	return b.c.UploadFile(ctx, path, b.options, b.view.uploading(i))
}

// follow feeds the tracker from the event stream. If the stream fails for
// good (an older server without it, or a proxy that breaks it), the
// waiters fall back to polling each job.
func (b *batch) follow(ctx context.Context) {
	st := &client.Stream{Client: b.c, MaxFailures: 4}
	err := st.Run(ctx, b.jobs.Handle)
	if ctx.Err() != nil {
		return
	}
	b.view.notice(fmt.Sprintf("the event stream failed (%v); polling each job instead", explain(err)))
	b.jobs.Fail(err)
}

// run converts the files and returns how many failed.
func (b *batch) run(ctx context.Context, files []string) (failed int) {
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, path := range files {
		a, err := b.upload(ctx, i, path)
		if err != nil {
			errs[i] = explain(unwrapUpload(err))
			b.view.failed(i, errs[i].Error())
			continue
		}
		b.view.uploaded(i)
		b.mu.Lock()
		b.ids[i] = a.JobID
		b.mu.Unlock()
		wg.Go(func() {
			errs[i] = b.finish(ctx, i, path, a.JobID)
			if errs[i] != nil {
				b.view.failed(i, errs[i].Error())
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	return failed
}

// unwrapUpload shows the server's message alone, or the local error
// without the path: the view names the file.
func unwrapUpload(err error) error {
	var api *client.APIError
	if errors.As(err, &api) {
		return api
	}
	return pathReason(err)
}

// finish waits for the job and downloads its MP3 next to the others.
func (b *batch) finish(ctx context.Context, i int, path, id string) error {
	j, err := b.wait(ctx, i, id)
	if err != nil {
		return err
	}
	if j.Status == client.StatusFailed {
		return errors.New(cmp.Or(j.Reason(), "the conversion failed"))
	}
	if j.MP3FID == nil {
		return errors.New("the job is done but names no MP3")
	}
	name, err := b.download(ctx, *j.MP3FID, mp3Name(path))
	if err != nil {
		return err
	}
	b.view.done(i, name)
	return nil
}

// wait follows the job until it is done or failed: from the event stream,
// or by polling once the stream failed. When the stream skipped changes
// (a refetch event), the job is read afresh.
func (b *batch) wait(ctx context.Context, i int, id string) (client.Job, error) {
	refetched := 0 // the refetch events acted on
	for {
		st := b.jobs.Get(id)
		if st.Refetches > refetched {
			ok, err := b.fetch(ctx, id)
			if err != nil {
				return client.Job{}, err
			}
			if ok {
				refetched = st.Refetches
				continue
			}
		}
		if st.Deleted {
			return client.Job{}, errors.New("the job was deleted")
		}
		if st.Known {
			b.view.progress(i, st.Job)
			if st.Job.Finished() {
				return st.Job, nil
			}
		}
		if st.StreamErr == nil && st.Refetches == refetched {
			select {
			case <-ctx.Done():
				return client.Job{}, ctx.Err()
			case <-st.Changed:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return client.Job{}, ctx.Err()
		case <-time.After(b.poll):
		}
		if st.Refetches > refetched {
			continue // read at the top, which counts it done
		}
		if _, err := b.fetch(ctx, id); err != nil {
			return client.Job{}, err
		}
	}
}

// fetch reads job id (GET /jobs/{id}) into the tracker, and says whether it
// did. A job gone or a login refused ends the wait (the error); any other
// error passes.
func (b *batch) fetch(ctx context.Context, id string) (bool, error) {
	j, err := b.c.Job(ctx, id)
	if client.IsStatus(err, 404) || client.IsStatus(err, 401) {
		return false, explain(err)
	}
	if err != nil {
		return false, nil
	}
	b.jobs.Set(*j)
	return true, nil
}

// mp3Name is the upload's base name with .mp3 for its extension.
func mp3Name(path string) string {
	base := filepath.Base(path)
	if stem := strings.TrimSuffix(base, filepath.Ext(base)); stem != "" {
		base = stem
	}
	return base + ".mp3"
}

// download writes the MP3 into the output directory under name, or
// "name (1).mp3" and so on if that exists: it never overwrites a file.
func (b *batch) download(ctx context.Context, fid, name string) (string, error) {
	f, err := createNew(b.out, name)
	if err != nil {
		return "", err
	}
	if _, err := b.c.Download(ctx, fid, f); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return filepath.Base(f.Name()), nil
}

// createNew creates name in dir, or the first free "stem (n).ext".
func createNew(dir, name string) (*os.File, error) {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for n := 0; n < 1000; n++ {
		try := name
		if n > 0 {
			try = fmt.Sprintf("%s (%d)%s", stem, n, ext)
		}
		f, err := os.OpenFile(filepath.Join(dir, try), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("%s and 999 numbered names exist in %s", name, dir)
}
