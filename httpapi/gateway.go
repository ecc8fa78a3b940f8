package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/client"
	"github.com/mp3converter/mp3converter/internal/metrics"
	"github.com/mp3converter/mp3converter/jobfeed"
)

// Gateway serves the gateway role's routes.
type Gateway struct {
	Auth       Authenticator // for /login
	Tokens     Verifier      // for every other route
	Revoker    Revoker       // for /logout; nil: it only clears the page's cookie
	Jobs       mp3converter.JobStore
	Videos     mp3converter.BlobStore
	MP3s       mp3converter.BlobStore
	Queue      mp3converter.Queue
	VideoQueue string
	MaxUpload  int64 // bytes of one uploaded file
	Throttle   *Throttle
	Devices    *Devices // device cookies, which let an account's owner in while strangers spend its login budget
	Proxies    Proxies  // whose X-Forwarded-For to believe: the ingress
	// IdleTimeout cuts an upload or download that moves no byte for this
	// long, so that slow clients cannot hold connections (60 s if 0).
	IdleTimeout time.Duration
	// MinUploadRate cuts an upload that, after UploadGrace (30 s if 0),
	// has averaged fewer bytes per second than this (no floor if 0).
	MinUploadRate int64
	UploadGrace   time.Duration
	Uploads       *InUseLimit // caps uploads in progress (NewUploadLimit); nil: no caps
	// Space, if set, is asked before each upload; its error refuses it
	// (an error wrapping mp3converter.ErrInsufficientStorage: 507).
	Space  func(context.Context) error
	Checks []Check
	Logger *slog.Logger
	// Webhooks serves /webhooks; nil: 503.
	Webhooks *Webhooks
	// Feed is the job change feed behind GET /jobs/events; nil: 503.
	Feed *jobfeed.Feed
	// Heartbeat is how often an idle event stream gets a comment, so
	// that proxies keep it open (15 s if 0).
	Heartbeat time.Duration
	Streams   *InUseLimit // caps open event streams (NewStreamLimit); nil: no caps
	// MaxJobsKept is how many jobs one user may keep, whatever their
	// status; past it, uploads are refused until some are deleted (0: no
	// cap).
	MaxJobsKept int
	// Metrics counts uploads, logins and requests; nil counts nothing.
	Metrics *metrics.Metrics

	// ResumableDir keeps the parts of resumable uploads (/files/, tus);
	// "": /files/ answers 503.
	ResumableDir string
	// UploadExpiry is how long a resumable upload is kept after its
	// creation, finished or not (24 h if 0); see SweepUploads.
	UploadExpiry time.Duration
	// MaxUnfinished is how many unfinished resumable uploads one user may
	// keep (4 if 0).
	MaxUnfinished int

	tusOnce sync.Once
	tus     *resumable
	tusErr  error
}

// routes are the gateway's routes, as docs/openapi.yaml documents them.
func (g *Gateway) routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"POST /login":       g.logins().serveHTTP,
		"POST /logout":      g.sessions().logout,
		"POST /validate":    validateHandler(g.Tokens, g.Logger),
		"POST /upload":      g.upload,
		"GET /download":     g.authed(g.download),
		"GET /jobs":         g.authed(g.listJobs),
		"GET /jobs/{id}":    g.authed(g.getJob),
		"GET /jobs/events":  g.authed(g.events),
		"DELETE /jobs/{id}": g.authed(g.deleteJob),
		"GET /healthz":      healthz,
		"GET /readyz":       readyz(g.Checks, g.Logger),

		// httpapi/webhooks.go
		"POST /webhooks":                g.authed(g.createWebhook),
		"GET /webhooks":                 g.authed(g.listWebhooks),
		"DELETE /webhooks/{id}":         g.authed(g.deleteWebhook),
		"GET /webhooks/{id}/deliveries": g.authed(g.webhookDeliveries),
	}
}

// allRoutes are the gateway's routes with /files/'s (httpapi/tus.go).
func (g *Gateway) allRoutes() map[string]http.HandlerFunc {
	routes := g.routes()
	maps.Copy(routes, g.tusRoutes())
	return routes
}

func (g *Gateway) logins() *logins {
	return &logins{auth: g.Auth, throttle: g.Throttle, proxies: g.Proxies, sessions: g.sessions(), devices: g.Devices,
		log: g.Logger, metrics: g.Metrics}
}

// Handler returns the gateway's routes.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	for pattern, h := range g.allRoutes() {
		mux.HandleFunc(pattern, h)
	}
	for pattern, h := range pageRoutes() {
		mux.HandleFunc(pattern, h)
	}
	for pattern, h := range g.tusAliases() {
		mux.HandleFunc(pattern, h)
	}
	return Middleware(mux, g.Logger, g.Metrics)
}

type authedHandler func(w http.ResponseWriter, r *http.Request, c *auth.Claims)

func (g *Gateway) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := authenticate(r, g.Tokens)
		if err != nil {
			Error(w, r, g.Logger, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, c)
	}
}

var (
	errNoFID    = mp3converter.Errorf(mp3converter.EINVALID, "fid is required")
	errBadFID   = mp3converter.Errorf(mp3converter.EINVALID, "fid must be a 24-digit hexadecimal ObjectId")
	errNotFound = mp3converter.Errorf(mp3converter.ENOTFOUND, "file not found")
	errNoJob    = mp3converter.Errorf(mp3converter.ENOTFOUND, "job not found")
)

// download serves GET /download?fid=: the caller's MP3, with ranges.
func (g *Gateway) download(w http.ResponseWriter, r *http.Request, c *auth.Claims) {
	fid := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("fid")))
	if fid == "" {
		Error(w, r, g.Logger, errNoFID)
		return
	}
	if !mp3converter.ValidID(fid) {
		Error(w, r, g.Logger, errBadFID)
		return
	}
	job, err := g.Jobs.JobByMP3(r.Context(), fid)
	if errors.Is(err, mp3converter.ErrNotFound) || err == nil && (!mayTouch(c, job) || job.Status != mp3converter.JobDone) {
		Error(w, r, g.Logger, errNotFound)
		return
	}
	if err != nil {
		Error(w, r, g.Logger, err)
		return
	}
	rc, err := g.MP3s.Get(r.Context(), fid)
	if errors.Is(err, mp3converter.ErrNotFound) {
		Error(w, r, g.Logger, errNotFound)
		return
	}
	if err != nil {
		Error(w, r, g.Logger, err)
		return
	}
	defer rc.Close()
	name := mp3converter.MP3Filename(job.Filename)
	w.Header().Set("Content-Type", "audio/mpeg")
	w.Header().Set("Content-Disposition", ContentDisposition(name))
	w.Header().Set("ETag", `"`+fid+`"`)
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w = &idleWriter{ResponseWriter: w, rc: http.NewResponseController(w), idle: g.idle()}
	// Many small ranges cost far more to send than the file: past the
	// cap, the whole file is the answer (RFC 9110 lets a server ignore
	// Range).
	if strings.Count(r.Header.Get("Range"), ",") >= maxRanges {
		r.Header.Del("Range")
	}
	http.ServeContent(w, r, name, job.UpdatedAt, rc)
}

// maxRanges is the most byte ranges one download may ask for.
const maxRanges = 16

// ContentDisposition returns an attachment header naming name: an ASCII
// fallback for old clients and the exact UTF-8 name (RFC 6266, RFC 8187).
func ContentDisposition(name string) string {
	fallback := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			return '_'
		}
		return r
	}, name)
	var ext strings.Builder
	for _, b := range []byte(name) {
		if 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || strings.IndexByte("!#$&+-.^_`|~", b) >= 0 {
			ext.WriteByte(b)
		} else {
			fmt.Fprintf(&ext, "%%%02X", b)
		}
	}
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, fallback, ext.String())
}

func mayRead(c *auth.Claims, j *mp3converter.Job) bool { return c.SiteAdmin || mayTouch(c, j) }

// mayTouch says whether c may download or delete j's files: its owner
// only. An admin reads every job's record, never another user's media.
func mayTouch(c *auth.Claims, j *mp3converter.Job) bool { return j.Owner == c.Owner() }

// jobJSON is a job as the API shows it. Its one definition is the API
// client's, so that the server and the client cannot drift apart.
type jobJSON = client.Job

func toJSON(j *mp3converter.Job) jobJSON {
	v := jobJSON{ID: j.ID, Status: string(j.Status), Filename: j.Filename, VideoFID: j.VideoFID, Attempts: j.Attempts,
		Progress: j.Progress, Duration: j.Duration, Size: j.Size, MP3Size: j.MP3Size, Copied: j.Copied, Owner: j.Owner,
		CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, NotifiedAt: j.NotifiedAt, Options: client.JobOptions(j.Options)}
	if j.Status == mp3converter.JobDone && j.MP3FID != "" {
		fid := j.MP3FID
		v.MP3FID = &fid
		v.DownloadURL = "/download?fid=" + fid
	}
	if j.Error != "" {
		e := j.Error
		v.Error = &e
	}
	return v
}

// listJobs serves GET /jobs: the caller's jobs, newest first; an admin may
// ask for everyone's with ?all=true. A full page whose list goes on has a
// Link header naming the next page (rel="next"), which ?before= holds.
func (g *Gateway) listJobs(w http.ResponseWriter, r *http.Request, c *auth.Claims) {
	f, err := jobFilter(r.URL.Query(), c)
	if err != nil {
		Error(w, r, g.Logger, err)
		return
	}
	limit := f.Limit
	f.Limit++ // one more, to know whether another page follows
	jobs, err := g.Jobs.ListJobs(r.Context(), f)
	if err != nil {
		Error(w, r, g.Logger, err)
		return
	}
	if len(jobs) > limit {
		jobs = jobs[:limit]
		last := jobs[limit-1]
		q := r.URL.Query()
		q.Set("before", encodeCursor(mp3converter.JobCursor{CreatedAt: last.CreatedAt, ID: last.ID}))
		q.Set("limit", strconv.Itoa(limit))
		w.Header().Set("Link", "</jobs?"+q.Encode()+`>; rel="next"`)
	}
	out := make([]jobJSON, 0, len(jobs))
	for _, j := range jobs {
		out = append(out, toJSON(j))
	}
	writeJSON(w, http.StatusOK, out)
}

var (
	errListLimit = mp3converter.Errorf(mp3converter.EINVALID, "limit must be a number from 1 to 1000")
	errStatus    = mp3converter.Errorf(mp3converter.EINVALID, "status must be queued, processing, done or failed")
	errCursor    = mp3converter.Errorf(mp3converter.EINVALID, "before must be a cursor from a Link header of GET /jobs")
	errQuery     = mp3converter.Errorf(mp3converter.EINVALID, "q must be at most %d characters", mp3converter.NameContainsMax)
)

// jobFilter reads GET /jobs's query: limit, status, before, q and all.
func jobFilter(q url.Values, c *auth.Claims) (mp3converter.JobFilter, error) {
	f := mp3converter.JobFilter{Owner: c.Owner(), Limit: 100}
	if all, _ := strconv.ParseBool(q.Get("all")); all && c.SiteAdmin {
		f.Owner = ""
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			return f, errListLimit
		}
		f.Limit = n
	}
	if s := q.Get("status"); s != "" {
		switch st := mp3converter.JobStatus(s); st {
		case mp3converter.JobQueued, mp3converter.JobProcessing, mp3converter.JobDone, mp3converter.JobFailed:
			f.Status = st
		default:
			return f, errStatus
		}
	}
	if s := q.Get("before"); s != "" {
		cur, ok := decodeCursor(s)
		if !ok {
			return f, errCursor
		}
		f.Before = cur
	}
	f.NameContains = strings.TrimSpace(q.Get("q"))
	if utf8.RuneCountInString(f.NameContains) > mp3converter.NameContainsMax {
		return f, errQuery
	}
	return f, nil
}

// encodeCursor writes a place in the job list as GET /jobs's ?before=
// takes it: the job's creation in Unix microseconds, a dot, and its id.
// Clients take it from the Link header and need not read it.
func encodeCursor(c mp3converter.JobCursor) string {
	return strconv.FormatInt(c.CreatedAt.UnixMicro(), 10) + "." + c.ID
}

func decodeCursor(s string) (mp3converter.JobCursor, bool) {
	us, id, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || n < 0 || !mp3converter.ValidID(id) {
		return mp3converter.JobCursor{}, false
	}
	return mp3converter.JobCursor{CreatedAt: time.UnixMicro(n).UTC(), ID: id}, true
}

// getJob serves GET /jobs/{id}.
func (g *Gateway) getJob(w http.ResponseWriter, r *http.Request, c *auth.Claims) {
	job, err := g.ownJob(r, c, mayRead)
	if err != nil {
		Error(w, r, g.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, toJSON(job))
}

// deleteJob serves DELETE /jobs/{id}: the job and its files go. A
// conversion of the job in progress stops within about a second: its
// converter finds the job gone at its next progress write, kills ffmpeg
// and removes its scratch files.
func (g *Gateway) deleteJob(w http.ResponseWriter, r *http.Request, c *auth.Claims) {
	job, err := g.ownJob(r, c, mayTouch)
	if err == nil {
		err = mp3converter.DeleteJobAndFiles(r.Context(), g.Jobs, g.Videos, g.MP3s, job)
	}
	if errors.Is(err, mp3converter.ErrNotFound) {
		err = errNoJob
	}
	if err != nil {
		Error(w, r, g.Logger, err)
		return
	}
	g.Logger.Info("JobDeleted", "request_id", requestID(r.Context()), "job_id", job.ID)
	if g.Feed != nil {
		g.Feed.Deleted(job)
	}
	w.WriteHeader(http.StatusNoContent)
}

// ownJob loads the job named in the path if the caller may see it; anyone
// else's job is not found, so that ids cannot be probed.
func (g *Gateway) ownJob(r *http.Request, c *auth.Claims, may func(*auth.Claims, *mp3converter.Job) bool) (*mp3converter.Job, error) {
	id := strings.ToLower(r.PathValue("id"))
	if !mp3converter.ValidID(id) {
		return nil, errNoJob
	}
	job, err := g.Jobs.Job(r.Context(), id)
	if errors.Is(err, mp3converter.ErrNotFound) || err == nil && !may(c, job) {
		return nil, errNoJob
	}
	return job, err
}

func (g *Gateway) deleteBlob(s mp3converter.BlobStore, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Delete(ctx, id); err != nil && !errors.Is(err, mp3converter.ErrNotFound) {
		g.Logger.Error("BlobDeleteFailed", "fid", id, "err", err)
	}
}

func (g *Gateway) idle() time.Duration {
	if g.IdleTimeout > 0 {
		return g.IdleTimeout
	}
	return time.Minute
}

// idleWriter pushes the connection's write deadline forward before each
// write: a client may download slowly, but not stop reading.
type idleWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func (i *idleWriter) Write(p []byte) (int, error) {
	i.rc.SetWriteDeadline(time.Now().Add(i.idle))
	return i.ResponseWriter.Write(p)
}
