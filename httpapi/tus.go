package httpapi

// Resumable uploads (tus 1.0, with the creation, creation-with-upload,
// termination and expiration extensions) at /files/. tusd's handler does
// the protocol; around it, before tusd sees a request, the gateway
// authenticates it as every other route, answers 404 for an upload that
// is not the caller's or has expired, applies /upload's limits (size,
// uploads in progress, jobs kept, free space, the body's rate) and checks
// the options in Upload-Metadata. The parts are a tusd filestore in
// Gateway.ResumableDir, on this process's disk. When the last byte lands,
// the upload becomes a job by the same path as POST /upload (queueJob), its
// parts are removed, and the answer names the job (JobHeader); the upload's
// record stays until it expires, so that HEAD and GET still name the job.
// SweepUploads removes expired uploads with their parts.

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tus/tusd/v2/pkg/filestore"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	expslog "golang.org/x/exp/slog"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
)

// JobHeader names, in the answer to the PATCH (or POST) that completes an
// upload and to HEAD and GET on a completed one, the job it became.
const JobHeader = "Mp3converter-Job"

// TusBase is the tus endpoint's path.
const TusBase = "/files/"

// The metadata the server keeps with an upload; a client's own values
// under these keys are dropped.
const (
	metaUser    = "mp3converter-user"    // the creator's username
	metaJob     = "mp3converter-job"     // the id its job gets
	metaExpires = "mp3converter-expires" // Unix seconds
)

var (
	errNoUpload        = mp3converter.Errorf(mp3converter.ENOTFOUND, "upload not found")
	errNoUploadLength  = mp3converter.Errorf(mp3converter.EINVALID, "Upload-Length is required: a non-negative number of bytes (deferred lengths are not supported)")
	errTusUnconfigured = mp3converter.Errorf(mp3converter.EUNAVAILABLE, "resumable uploads are not available")
)

// resumable is the gateway's tus server.
type resumable struct {
	g      *Gateway
	store  filestore.FileStore
	locker *memorylocker.MemoryLocker
	tusd   *handler.UnroutedHandler
	now    func() time.Time
}

type claimsKey struct{}

// tusServer builds the tus server on first use.
func (g *Gateway) tusServer() (*resumable, error) {
	g.tusOnce.Do(func() {
		if g.ResumableDir == "" {
			g.tusErr = errTusUnconfigured
			return
		}
		store := filestore.New(g.ResumableDir)
		store.DirModePerm, store.FileModePerm = 0o700, 0o600 // users' videos: the server's alone
		t := &resumable{g: g, store: store, locker: memorylocker.New(), now: time.Now}
		composer := handler.NewStoreComposer()
		composer.UseCore(t.store)
		composer.UseTerminater(t.store)
		t.locker.UseIn(composer)
		h, err := handler.NewUnroutedHandler(handler.Config{
			BasePath: TusBase, StoreComposer: composer, MaxSize: g.MaxUpload,
			DisableDownload: true, DisableConcatenation: true, Cors: &handler.CorsConfig{Disable: true},
			PreUploadCreateCallback: t.onCreate, PreFinishResponseCallback: t.onFinish,
			NetworkTimeout: g.idle(), Logger: expslog.New(expslog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			g.tusErr = err
			return
		}
		t.tusd, g.tus = h, t
	})
	return g.tus, g.tusErr
}

// tusAliases are the endpoint at tusd's default, /files/, beside the
// documented /files.
func (g *Gateway) tusAliases() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"OPTIONS /files/": g.tusRoute((*resumable).options),
		"POST /files/":    g.tusRoute((*resumable).create),
	}
}

// tusRoutes are /files' routes.
func (g *Gateway) tusRoutes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"OPTIONS /files":      g.tusRoute((*resumable).options),
		"POST /files":         g.tusRoute((*resumable).create),
		"HEAD /files/{id}":    g.tusRoute((*resumable).head),
		"GET /files/{id}":     g.tusRoute((*resumable).status),
		"PATCH /files/{id}":   g.tusRoute((*resumable).patch),
		"DELETE /files/{id}":  g.tusRoute((*resumable).terminate),
		"OPTIONS /files/{id}": g.tusRoute((*resumable).options),
	}
}

func (g *Gateway) tusRoute(h func(*resumable, http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t, err := g.tusServer()
		if err != nil {
			Error(w, r, g.Logger, err)
			return
		}
		// tusd would turn a POST into a PATCH or DELETE past the checks.
		r.Header.Del("X-HTTP-Method-Override")
		w.Header().Set("Cache-Control", "no-store")
		h(t, &tusWriter{ResponseWriter: w, r: r, log: g.Logger}, r)
	}
}

// serve hands r to tusd's h, with the protocol checks of its middleware;
// tusd reads the upload's id as the path past TusBase.
func (t *resumable) serve(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	http.StripPrefix(strings.TrimSuffix(TusBase, "/"), t.tusd.Middleware(h)).ServeHTTP(w, r)
}

func (t *resumable) options(w http.ResponseWriter, r *http.Request) {
	t.serve(w, r, nil) // the middleware answers OPTIONS itself
}

// refuse answers a refused request, counted as a refused upload when it
// would have carried a file's bytes.
func (t *resumable) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		t.g.Metrics.UploadRefused(refusalReason(err))
	}
	w.Header().Set("Tus-Resumable", "1.0.0")
	Error(w, r, t.g.Logger, err)
}

// create serves POST /files/: a new upload, with its first bytes if the
// request carries them.
func (t *resumable) create(w http.ResponseWriter, r *http.Request) {
	c, err := authenticate(r, t.g.Tokens)
	if err == nil {
		err = t.checkCreate(r, c)
	}
	var release func()
	if err == nil {
		release, err = t.g.admit(r, c.Owner())
	}
	if err != nil {
		t.refuse(w, r, err)
		return
	}
	defer release()
	r = r.WithContext(context.WithValue(r.Context(), claimsKey{}, c))
	n := t.guardBody(w, r)
	defer func() { t.g.Metrics.UploadBytes(n.n) }()
	t.serve(w, r, t.tusd.PostFile)
}

// checkCreate checks a new upload's length, its options and the cap on
// the user's unfinished uploads. Uploads created at once may each pass
// the cap: it may be passed by --max-uploads-per-user less one at most.
func (t *resumable) checkCreate(r *http.Request, c *auth.Claims) error {
	if r.Header.Get("Upload-Length") == "" {
		return errNoUploadLength
	}
	size, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64)
	if err != nil || size < 0 {
		return errNoUploadLength
	}
	if size > t.g.MaxUpload {
		return t.g.errTooLarge()
	}
	if _, _, err := tusOptions(handler.ParseMetadataHeader(r.Header.Get("Upload-Metadata"))); err != nil {
		return err
	}
	n, err := t.unfinished(c.Username)
	if err != nil {
		return err
	}
	if max := t.g.maxUnfinished(); n >= max {
		return jobsKeptError{mp3converter.Errorf(mp3converter.ETOOMANY,
			"you have %d unfinished uploads, the most allowed; finish or delete one (DELETE /files/{id}), or wait for it to expire", n)}
	}
	return nil
}

// tusOptions reads an upload's options and file name from its metadata,
// by the rules of /upload's form fields.
func tusOptions(meta handler.MetaData) (mp3converter.Options, string, error) {
	var o mp3converter.Options
	for _, name := range mp3converter.OptionNames {
		v, ok := meta[name]
		if !ok {
			continue
		}
		if err := setOption(&o, name, v); err != nil {
			return o, "", err
		}
	}
	if err := o.Validate(); err != nil {
		return o, "", err
	}
	name := meta["filename"]
	if name == "" {
		name = meta["name"]
	}
	return o, mp3converter.SanitizeFilename(name), nil
}

// onCreate is tusd's PreUploadCreateCallback: it records who created the
// upload, the id its job will have, and when it expires.
func (t *resumable) onCreate(hook handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
	c, _ := hook.Context.Value(claimsKey{}).(*auth.Claims)
	if c == nil {
		return handler.HTTPResponse{}, handler.FileInfoChanges{}, errors.New("tus: upload created without claims")
	}
	meta := maps.Clone(hook.Upload.MetaData)
	if meta == nil {
		meta = handler.MetaData{}
	}
	expires := t.now().Add(t.g.uploadExpiry()).Truncate(time.Second)
	meta[metaUser], meta[metaJob] = c.Username, mp3converter.NewID()
	meta[metaExpires] = strconv.FormatInt(expires.Unix(), 10)
	resp := handler.HTTPResponse{Header: handler.HTTPHeader{"Upload-Expires": expires.UTC().Format(http.TimeFormat)}}
	return resp, handler.FileInfoChanges{MetaData: meta}, nil
}

// onFinish is tusd's PreFinishResponseCallback: the upload becomes a job.
func (t *resumable) onFinish(hook handler.HookEvent) (handler.HTTPResponse, error) {
	id, err := t.finish(hook.Context, hook.Upload)
	if err != nil {
		return handler.HTTPResponse{}, t.g.tusError(hook.Context, err)
	}
	return handler.HTTPResponse{Header: handler.HTTPHeader{JobHeader: id}}, nil
}

// finish stores a complete upload's file in the video store and queues its
// job, as /upload does, then removes its parts. It returns the job's id.
func (t *resumable) finish(ctx context.Context, info handler.FileInfo) (string, error) {
	opts, filename, err := tusOptions(info.MetaData)
	if err != nil {
		return "", err
	}
	f, err := openPart(t.binPath(info.ID))
	if err != nil {
		return "", err
	}
	defer f.Close()
	fid := mp3converter.NewID()
	size, err := t.g.Videos.Put(ctx, fid, f)
	if err != nil {
		return "", err
	}
	user := info.MetaData[metaUser]
	job, err := t.g.queueJob(ctx, info.MetaData[metaJob], user, mp3converter.Owner(user),
		video{fid: fid, filename: filename, size: size, opts: opts})
	if err != nil {
		return "", err
	}
	removePart(t.binPath(info.ID))
	t.g.Metrics.UploadAccepted()
	t.g.Logger.Info("JobAccepted", "request_id", requestID(ctx), "upload_id", info.ID, "job_id", job.ID,
		"video_fid", fid, "bytes", size)
	return job.ID, nil
}

// tusError is err as tusd answers it: the status of Error's table and
// the message a client may see.
func (g *Gateway) tusError(ctx context.Context, err error) error {
	var he handler.Error
	if errors.As(err, &he) {
		return he
	}
	status, ok := statusOf[mp3converter.ErrorCode(err)]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		g.Logger.Error("RequestFailed", "request_id", requestID(ctx), "status", status, "err", err)
	}
	code := strings.ToUpper(cmpStr(mp3converter.ErrorCode(err), mp3converter.EINTERNAL))
	e := handler.NewError("ERR_"+code, mp3converter.ErrorMessage(err), status)
	if after, ok := retryAfter[status]; ok {
		e.HTTPResponse.Header["Retry-After"] = after
	}
	return e
}

func cmpStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// guardBody puts r's body, if any, under /upload's two clocks (see
// bodyReader), whose errors tusd answers with /upload's statuses and
// messages. It returns the reader, which counts the bytes read.
func (t *resumable) guardBody(w http.ResponseWriter, r *http.Request) *tusBody {
	b := &tusBody{g: t.g, ctx: r.Context(), header: w.Header()}
	if r.Body == nil || r.Body == http.NoBody {
		return b
	}
	b.r = &bodyReader{r: r.Body, rc: http.NewResponseController(w), idle: t.g.idle(),
		minRate: t.g.MinUploadRate, grace: t.g.grace(), start: time.Now()}
	r.Body = b
	return b
}

// tusBody reads an upload's bytes for tusd.
type tusBody struct {
	r      *bodyReader
	g      *Gateway
	ctx    context.Context
	header http.Header // the answer's
	n      int64
}

func (b *tusBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	var cut error
	switch {
	case errors.Is(err, errTooSlow):
		cut = b.g.errTooSlow()
	case errors.Is(err, errStalled):
		cut = b.g.errStalled()
	default:
		return n, err
	}
	// The rest of the body is not waited for: the server would otherwise
	// read it before answering, under tusd's own deadline.
	b.header.Set("Connection", "close")
	return n, b.g.tusError(b.ctx, cut)
}

func (b *tusBody) Close() error { return b.r.Close() }

// tusWriter keeps tusd's answers in the gateway's manner: the text of an
// internal error is logged, not sent; a Location is a path (the gateway
// may stand behind a TLS proxy); and the extensions include expiration,
// which the gateway adds.
type tusWriter struct {
	http.ResponseWriter
	r    *http.Request
	log  *slog.Logger
	code int
}

// tusdInternal begins the body of tusd's answer to an error it did not
// make, whose text is the error's.
const tusdInternal = "ERR_INTERNAL_SERVER_ERROR"

func (w *tusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
		h := w.Header()
		if code == http.StatusInternalServerError {
			h.Del("Content-Length") // the body may be replaced
		}
		if u, err := url.Parse(h.Get("Location")); err == nil && strings.HasPrefix(u.Path, TusBase) {
			h.Set("Location", u.Path)
		}
		if ext := h.Get("Tus-Extension"); ext != "" {
			h.Set("Tus-Extension", ext+",expiration")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *tusWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.code == http.StatusInternalServerError && strings.HasPrefix(string(p), tusdInternal) {
		w.log.Error("RequestFailed", "request_id", requestID(w.r.Context()), "status", w.code, "err", strings.TrimSpace(string(p)))
		if _, err := io.WriteString(w.ResponseWriter, tusdInternal+": internal error\n"); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *tusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (g *Gateway) uploadExpiry() time.Duration {
	if g.UploadExpiry > 0 {
		return g.UploadExpiry
	}
	return 24 * time.Hour
}

func (g *Gateway) maxUnfinished() int {
	if g.MaxUnfinished > 0 {
		return g.MaxUnfinished
	}
	return 4
}
