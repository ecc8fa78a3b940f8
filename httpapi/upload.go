package httpapi

// POST /upload, from the request to the job: admission (the caps on
// uploads in progress and on jobs kept, the free space), the multipart form
// streamed to the video store under the size limit and the two clocks of
// bodyReader, and the errors the client gets, made in one place
// (bodyError).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/internal/bytesize"
)

// A failure to read the body is one of these, a MaxBytesError, the client
// gone, or a malformed form: bodyError turns each into the client's error.
var (
	errStalled = errors.New("upload stalled")        // bodyReader: no byte for the idle timeout
	errTooSlow = errors.New("upload too slow")       // bodyReader: under the minimum rate
	errLimit   = errors.New("upload limit exceeded") // limitedReader: the file passed MaxUpload
)

// The upload's errors for the client, and those of errTooSlow, errStalled
// and errTooLarge, which name the limits.
var (
	errOneFile = mp3converter.Errorf(mp3converter.EINVALID, "exactly 1 file required")
	errAborted = mp3converter.Errorf(mp3converter.EINVALID, "the upload was interrupted")
)

func (g *Gateway) errTooSlow() error {
	return mp3converter.Errorf(mp3converter.ETIMEOUT, "the upload was too slow: after the first %s it must average %s per second or more",
		g.grace(), bytesize.Format(g.MinUploadRate))
}

func (g *Gateway) errStalled() error {
	return mp3converter.Errorf(mp3converter.ETIMEOUT, "the upload stalled: no data for %s", g.idle())
}

func (g *Gateway) errTooLarge() error {
	return mp3converter.Errorf(mp3converter.ETOOLARGE, "the file is larger than the %s limit", bytesize.Format(g.MaxUpload))
}

// multipartSlack is what a multipart body may carry besides its file:
// boundaries, part headers and small form fields.
const multipartSlack = 1 << 20

// upload serves POST /upload: it streams the one file of a multipart form to
// the video store, records a job and queues it. It counts every refusal by
// its reason, a missing or bad token's too, so it checks the token itself.
func (g *Gateway) upload(w http.ResponseWriter, r *http.Request) {
	c, err := authenticate(r, g.Tokens)
	var job *mp3converter.Job
	if err == nil {
		w.Header().Set("Cache-Control", "no-store")
		job, err = g.accept(w, r, c)
	}
	if err != nil {
		g.Metrics.UploadRefused(refusalReason(err))
		Error(w, r, g.Logger, err)
		return
	}
	g.Metrics.UploadAccepted()
	g.Logger.Info("JobAccepted", "request_id", requestID(r.Context()), "job_id", job.ID, "video_fid", job.VideoFID, "bytes", job.Size)
	w.Header().Set("Location", "/jobs/"+job.ID)
	writeJSON(w, http.StatusAccepted, map[string]string{"job_id": job.ID, "video_fid": job.VideoFID, "status": string(mp3converter.JobQueued)})
}

// accept stores c's upload, records its job and queues it, or returns the
// error for the client, leaving nothing half-done.
func (g *Gateway) accept(w http.ResponseWriter, r *http.Request, c *auth.Claims) (*mp3converter.Job, error) {
	if r.ContentLength > g.MaxUpload+multipartSlack {
		return nil, g.errTooLarge()
	}
	release, err := g.admit(r, c.Owner())
	if err != nil {
		return nil, err
	}
	defer release()
	r.Body = http.MaxBytesReader(w, &bodyReader{r: r.Body, rc: http.NewResponseController(w), idle: g.idle(),
		minRate: g.MinUploadRate, grace: g.grace(), start: time.Now()}, g.MaxUpload+multipartSlack)
	v, err := g.readVideo(r)
	if err != nil {
		return nil, err
	}
	return g.queueJob(r.Context(), mp3converter.NewID(), c.Username, c.Owner(), v)
}

// queueJob records the job id of the stored video v, owned by owner
// (whose account is username), and publishes it on the video queue: what
// an upload becomes once its last byte is stored, by /upload or /files/.
// On an error it leaves nothing half-done: the job and v's blob are gone.
func (g *Gateway) queueJob(ctx context.Context, id, username, owner string, v video) (*mp3converter.Job, error) {
	job := &mp3converter.Job{ID: id, Owner: owner, Filename: v.filename, VideoFID: v.fid, Size: v.size,
		Options: v.opts}
	if err := g.Jobs.CreateJob(ctx, job); err != nil {
		g.deleteBlob(g.Videos, v.fid)
		return nil, err
	}
	body, _ := mp3converter.Message{VideoFID: v.fid, Username: username, JobID: job.ID, Filename: v.filename}.MarshalJSON()
	if err := g.Queue.Publish(ctx, g.VideoQueue, body); err != nil {
		// Not accepted: leave nothing half-done.
		bg := context.WithoutCancel(ctx)
		if err := g.Jobs.DeleteJob(bg, job.ID); err != nil {
			g.Logger.Error("JobDeleteFailed", "job_id", job.ID, "err", err)
		}
		g.deleteBlob(g.Videos, v.fid)
		g.Logger.Warn("PublishFailed", "request_id", requestID(ctx), "err", err)
		return nil, fmt.Errorf("upload: %w", queueUnavailable(err))
	}
	return job, nil
}

// refusalReason names why an upload was refused, for metrics: one of a
// few fixed words, from the error the client gets.
func refusalReason(err error) string {
	switch code := mp3converter.ErrorCode(err); {
	case errors.Is(err, errAborted):
		return "aborted" // the client went away
	case errors.As(err, new(jobsKeptError)):
		return "quota" // --max-jobs-kept-per-user
	case code == mp3converter.EUNAUTHORIZED, code == mp3converter.EFORBIDDEN: // no token, or a cross-site one
		return "unauthorized"
	case code == mp3converter.ETOOLARGE:
		return "too_large"
	case code == mp3converter.ETOOMANY:
		return "throttled" // too many uploads in progress
	case code == mp3converter.ETIMEOUT:
		return "too_slow" // under --min-upload-rate, or stalled
	case code == mp3converter.EINSUFFICIENTSTORAGE:
		return "no_space"
	case code == mp3converter.EINVALID:
		return "bad_request"
	case code == mp3converter.EUNAVAILABLE:
		return "unavailable"
	default:
		return "error"
	}
}

// admit decides, before the body is read, whether an upload by user may
// start: under the caps on uploads in progress and on jobs kept, and with
// space to store it. It returns the func that ends the upload's count.
func (g *Gateway) admit(r *http.Request, user string) (release func(), err error) {
	release, refusedBy, err := g.Uploads.acquire(r.Context(), user)
	if err != nil {
		g.Logger.Warn("UploadRefused", "request_id", requestID(r.Context()), "cap", refusedBy)
		return nil, err
	}
	if err := g.checkJobsKept(r.Context(), user); err != nil {
		release()
		if errors.As(err, new(jobsKeptError)) {
			g.Logger.Warn("UploadRefused", "request_id", requestID(r.Context()), "cap", "jobs_kept")
		}
		return nil, fmt.Errorf("upload: %w", err)
	}
	if g.Space != nil {
		if err := g.Space(r.Context()); err != nil {
			release()
			return nil, fmt.Errorf("upload: %w", err)
		}
	}
	return release, nil
}

// jobsKeptError refuses an upload by a user who keeps g.MaxJobsKept jobs.
// It is a 429, a 4xx because it is the user's doing (a 507 would read as
// the server's fault, and be logged and alerted on as one), and carries no
// Retry-After, unlike the caps on what is in progress: waiting does not
// help, deleting jobs does.
type jobsKeptError struct{ err *mp3converter.Error }

func (e jobsKeptError) Error() string { return e.err.Error() }
func (e jobsKeptError) Unwrap() error { return e.err }

// checkJobsKept refuses user's upload if it would pass g.MaxJobsKept,
// counting the user's jobs cheaply if the store can, else listing up to
// the cap. Uploads in progress at once may each pass the check: the cap
// may be passed by --max-uploads-per-user less one at most.
func (g *Gateway) checkJobsKept(ctx context.Context, user string) error {
	if g.MaxJobsKept <= 0 {
		return nil
	}
	var n int
	if c, ok := g.Jobs.(mp3converter.JobOwnerCounter); ok {
		var err error
		if n, err = c.CountJobs(ctx, user); err != nil {
			return err
		}
	} else {
		jobs, err := g.Jobs.ListJobs(ctx, mp3converter.JobFilter{Owner: user, Limit: g.MaxJobsKept})
		if err != nil {
			return err
		}
		n = len(jobs)
	}
	if n < g.MaxJobsKept {
		return nil
	}
	return g.errJobsKept(n)
}

func (g *Gateway) errJobsKept(n int) error {
	if n == g.MaxJobsKept {
		return jobsKeptError{mp3converter.Errorf(mp3converter.ETOOMANY, "you keep %d jobs, the most allowed; delete some to upload more", n)}
	}
	// Uploads that passed the check at once.
	return jobsKeptError{mp3converter.Errorf(mp3converter.ETOOMANY, "you keep %d jobs, more than the %d allowed; delete some to upload more", n, g.MaxJobsKept)}
}

// video is an upload's file, stored in the video store.
type video struct {
	fid      string // in the video store
	filename string // sanitized
	size     int64
	opts     mp3converter.Options
}

// readVideo reads r's multipart form, or the file itself (see
// readRawVideo), and streams its one file to the video store, reading the
// option fields before it (see readField) and skipping other fields. It
// returns the stored video, or the error for the client, having deleted
// whatever it stored. Options are checked before the file is stored, so
// that a bad one keeps nothing.
func (g *Gateway) readVideo(r *http.Request) (video, error) {
	if isRawUpload(r) {
		return g.readRawVideo(r)
	}
	mr, body, err := multipartReader(r)
	if err != nil {
		return video{}, errOneFile
	}
	var v video
	if err := g.readParts(r, mr, &v); err != nil {
		if v.fid != "" {
			g.deleteBlob(g.Videos, v.fid)
		}
		return video{}, err
	}
	if v.fid == "" {
		return video{}, errOneFile
	}
	// What follows the form's last boundary, usually a line break: read to
	// the body's end, the connection stays open for the client's next
	// request (see guardBody).
	io.CopyN(io.Discard, body, maxEpilogue)
	return v, nil
}

// readParts reads the form's parts into v: the options, then the one file,
// which it stores (v.fid, once stored). Its error is the one for the
// client.
func (g *Gateway) readParts(r *http.Request, mr *multipart.Reader, v *video) error {
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return g.bodyError(r, err)
		}
		if part.FileName() == "" && part.FormName() != "file" {
			if err := g.readField(r, part, &v.opts, v.fid != ""); err != nil {
				return err
			}
			continue
		}
		if v.fid != "" {
			return errOneFile // a second file
		}
		if err := g.storeFile(r, part, v); err != nil {
			return err
		}
	}
}

// storeFile checks v's options, then streams part, the file, to the video
// store into v. On an error the store keeps nothing.
func (g *Gateway) storeFile(r *http.Request, part *multipart.Part, v *video) error {
	if err := v.opts.Validate(); err != nil {
		return err
	}
	fid := mp3converter.NewID()
	lr := &limitedReader{r: part, left: g.MaxUpload}
	size, err := g.Videos.Put(r.Context(), fid, lr)
	g.Metrics.UploadBytes(g.MaxUpload - lr.left)
	if err != nil {
		// Put leaves nothing behind. If reading the body failed, that is
		// the client's doing, whatever the store made of it.
		if lr.err != nil {
			return g.bodyError(r, lr.err)
		}
		return err
	}
	v.fid, v.filename, v.size = fid, mp3converter.SanitizeFilename(part.FileName()), size
	return nil
}

// uploadBuffer is how much of an upload's body is read at once. The
// multipart reader's own buffer is 4 KiB, which made an upload cost a read
// system call per 4 KiB: on a VM those cost more than the copy itself.
const uploadBuffer = 256 << 10

// maxEpilogue is the most bytes read after a form's last boundary.
const maxEpilogue = 4 << 10

// multipartReader is r.MultipartReader reading r's body uploadBuffer at a
// time: given a large enough bufio.Reader, the multipart reader uses it as
// its own, which it also returns.
func multipartReader(r *http.Request) (*multipart.Reader, *bufio.Reader, error) {
	d, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || d != "multipart/form-data" || params["boundary"] == "" {
		return nil, nil, http.ErrNotMultipart
	}
	br := bufio.NewReaderSize(r.Body, uploadBuffer)
	return multipart.NewReader(br, params["boundary"]), br, nil
}

// maxOptionField is the most bytes an option's form field may hold.
const maxOptionField = 4 << 10

// readField reads an ordinary form field of an upload: an option (see
// mp3converter.OptionNames) into opts, anything else discarded, bounded by
// the body's limit. An option must come before the file, which is stored
// as it arrives: one after it is refused.
func (g *Gateway) readField(r *http.Request, part *multipart.Part, opts *mp3converter.Options, afterFile bool) error {
	name := part.FormName()
	if !slices.Contains(mp3converter.OptionNames, name) {
		if _, err := io.Copy(io.Discard, part); err != nil {
			return g.bodyError(r, err)
		}
		return nil
	}
	if afterFile {
		return mp3converter.Errorf(mp3converter.EINVALID, "option %s must come before the file in the form", name)
	}
	b, err := io.ReadAll(io.LimitReader(part, maxOptionField+1))
	if err != nil {
		return g.bodyError(r, err)
	}
	return setOption(opts, name, string(b))
}

// setOption sets upload option name to v by /upload's rules, however the
// upload gives it: a form field, a query parameter, tus metadata.
func setOption(opts *mp3converter.Options, name, v string) error {
	if len(v) > maxOptionField {
		return mp3converter.Errorf(mp3converter.EINVALID, "invalid option %s: longer than %d bytes", name, maxOptionField)
	}
	_, err := opts.SetOption(name, v)
	return err
}

func queueUnavailable(err error) error {
	if mp3converter.ErrorCode(err) == mp3converter.EUNAVAILABLE {
		return &mp3converter.Error{Code: mp3converter.EUNAVAILABLE, Message: "the job queue is unavailable; try again shortly"}
	}
	return err
}

// bodyError turns a failure to read the request body into the client's
// error, the one place that does: the body was too large (for
// http.MaxBytesReader or limitedReader), too slow or stalled (bodyReader),
// cut short, or malformed.
func (g *Gateway) bodyError(r *http.Request, err error) error {
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe), errors.Is(err, errLimit):
		return g.errTooLarge()
	case errors.Is(err, errTooSlow):
		return g.errTooSlow()
	case errors.Is(err, errStalled):
		return g.errStalled()
	case isClientGone(r, err), errors.Is(err, io.ErrUnexpectedEOF):
		return errAborted
	}
	if isRawUpload(r) {
		return mp3converter.Errorf(mp3converter.EINVALID, "malformed body: %s", err) // its chunked encoding
	}
	return mp3converter.Errorf(mp3converter.EINVALID, "malformed multipart body: %s", strings.TrimPrefix(err.Error(), "multipart: "))
}

// limitedReader reads the file's part of the request body. It fails with
// errLimit once more than left bytes are read, and remembers whether
// reading the body failed (err), which is the client's doing, unlike a
// failure of the store.
type limitedReader struct {
	r    io.Reader
	left int64
	err  error // errLimit, or the body's
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.err = errLimit
		return n, errLimit
	}
	if err != nil && err != io.EOF {
		l.err = err
	}
	return n, err
}

// bodyReader reads an upload's body under two clocks, pushed into the
// connection's read deadline before each read: a client may not stall for
// idle, and once grace has passed it must have sent minRate bytes per
// second on average since start (no floor if minRate is 0). A client that
// sends a byte now and then cannot hold a connection for long.
type bodyReader struct {
	r       io.ReadCloser
	rc      *http.ResponseController
	idle    time.Duration
	minRate int64
	grace   time.Duration
	start   time.Time
	n       int64
}

func (b *bodyReader) Read(p []byte) (int, error) {
	now := time.Now()
	deadline, slow := now.Add(b.idle), false
	if b.minRate > 0 {
		// The average falls below minRate at start + n/minRate, if no
		// further byte comes.
		due := b.start.Add(max(b.grace, time.Duration(float64(b.n)/float64(b.minRate)*float64(time.Second))))
		if due.Before(deadline) {
			deadline, slow = due, true
		}
	}
	b.rc.SetReadDeadline(deadline)
	n, err := b.r.Read(p)
	b.n += int64(n)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if slow {
			return n, errTooSlow
		}
		return n, errStalled
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.r.Close() }

func (g *Gateway) grace() time.Duration {
	if g.UploadGrace > 0 {
		return g.UploadGrace
	}
	return 30 * time.Second
}
