package httpapi

// /files/{id}: HEAD, PATCH, DELETE and GET on one upload, each checked for
// its owner and expiry before tusd sees it; and the records of uploads on
// disk (tusd's filestore: the parts in {id}, the record in {id}.info),
// read to check them, count them and sweep them.

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
)

var (
	errUploadOffset = mp3converter.Errorf(mp3converter.ECONFLICT, "Upload-Offset does not match the upload's offset")
	errUploadBusy   = mp3converter.Errorf(mp3converter.EUNAVAILABLE, "the upload is busy; try again shortly")
)

// uploadState is how far an upload has come.
type uploadState int

const (
	partial  uploadState = iota // bytes are missing
	complete                    // every byte is stored, but its job was not made (the store or queue failed)
	finished                    // its job was made and its parts removed
)

// tusUpload is an upload's record as the gateway reads it.
type tusUpload struct {
	info    handler.FileInfo // Offset included
	state   uploadState
	expires time.Time
}

func (t *resumable) binPath(id string) string  { return filepath.Join(t.store.Path, id) }
func (t *resumable) infoPath(id string) string { return filepath.Join(t.store.Path, id+".info") }

// validUploadID says whether id may name an upload: tusd's ids are 32 hex
// digits, and nothing else may reach a path on disk.
func validUploadID(id string) bool {
	return len(id) == 32 && !strings.ContainsFunc(id, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') })
}

// read reads upload id's record. Errors: errNoUpload, or others.
func (t *resumable) read(id string) (*tusUpload, error) {
	data, err := os.ReadFile(t.infoPath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoUpload
	}
	if err != nil {
		return nil, err
	}
	u := &tusUpload{}
	if err := json.Unmarshal(data, &u.info); err != nil {
		return nil, err
	}
	secs, _ := strconv.ParseInt(u.info.MetaData[metaExpires], 10, 64)
	u.expires = time.Unix(secs, 0)
	st, err := os.Stat(t.binPath(id))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		u.state, u.info.Offset = finished, u.info.Size
	case err != nil:
		return nil, err
	default:
		u.info.Offset = st.Size()
		if u.info.Offset == u.info.Size {
			u.state = complete
		}
	}
	return u, nil
}

// own reads the upload named in r's path if c created it and it has not
// expired; anyone else's is not found, so that ids cannot be probed.
func (t *resumable) own(r *http.Request, c *auth.Claims) (*tusUpload, error) {
	id := r.PathValue("id")
	if !validUploadID(id) {
		return nil, errNoUpload
	}
	u, err := t.read(id)
	if err != nil {
		return nil, err
	}
	if mp3converter.Owner(u.info.MetaData[metaUser]) != c.Owner() || !t.now().Before(u.expires) {
		return nil, errNoUpload
	}
	return u, nil
}

// access authenticates r and reads its upload, making its job first if
// every byte is stored but the job was not made. It answers the client
// itself and returns false if r may go no further.
func (t *resumable) access(w http.ResponseWriter, r *http.Request) (*auth.Claims, *tusUpload, bool) {
	c, err := authenticate(r, t.g.Tokens)
	var u *tusUpload
	if err == nil {
		u, err = t.own(r, c)
	}
	if err == nil && u.state == complete && r.Method != http.MethodDelete {
		u, err = t.finishLate(r.Context(), u)
	}
	if err != nil {
		t.refuse(w, r, err)
		return nil, nil, false
	}
	return c, u, true
}

// finishLate makes the job of a complete upload, under the upload's lock,
// and returns the upload as it then is.
func (t *resumable) finishLate(ctx context.Context, u *tusUpload) (*tusUpload, error) {
	lock, err := t.locker.NewLock(u.info.ID)
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := lock.Lock(lctx, func() {}); err != nil {
		return nil, errUploadBusy
	}
	defer lock.Unlock()
	if u, err = t.read(u.info.ID); err != nil || u.state != complete {
		return u, err
	}
	if _, err := t.finish(ctx, u.info); err != nil {
		return nil, err
	}
	return t.read(u.info.ID)
}

// writeFinished answers HEAD or PATCH on a finished upload.
func (t *resumable) writeFinished(w http.ResponseWriter, u *tusUpload, status int) {
	h := w.Header()
	h.Set("Tus-Resumable", "1.0.0")
	h.Set("Upload-Offset", strconv.FormatInt(u.info.Size, 10))
	h.Set("Upload-Length", strconv.FormatInt(u.info.Size, 10))
	h.Set(JobHeader, u.info.MetaData[metaJob])
	w.WriteHeader(status)
}

func (u *tusUpload) setExpires(w http.ResponseWriter) {
	w.Header().Set("Upload-Expires", u.expires.UTC().Format(http.TimeFormat))
}

// head serves HEAD /files/{id}: the upload's offset, or its job.
func (t *resumable) head(w http.ResponseWriter, r *http.Request) {
	_, u, ok := t.access(w, r)
	if !ok {
		return
	}
	if u.state == finished {
		t.writeFinished(w, u, http.StatusOK)
		return
	}
	u.setExpires(w)
	t.serve(w, r, t.tusd.HeadFile)
}

// patch serves PATCH /files/{id}: more bytes, under /upload's limits.
func (t *resumable) patch(w http.ResponseWriter, r *http.Request) {
	c, u, ok := t.access(w, r)
	if !ok {
		return
	}
	if u.state == finished {
		if r.Header.Get("Upload-Offset") != strconv.FormatInt(u.info.Size, 10) {
			t.refuse(w, r, errUploadOffset)
			return
		}
		t.writeFinished(w, u, http.StatusNoContent)
		return
	}
	release, err := t.g.admit(r, c.Owner())
	if err != nil {
		t.refuse(w, r, err)
		return
	}
	defer release()
	u.setExpires(w)
	n := t.guardBody(w, r)
	defer func() { t.g.Metrics.UploadBytes(n.n) }()
	t.serve(w, r, t.tusd.PatchFile)
}

// terminate serves DELETE /files/{id}: the upload and its parts go; a
// finished upload's job stays.
func (t *resumable) terminate(w http.ResponseWriter, r *http.Request) {
	_, u, ok := t.access(w, r)
	if !ok {
		return
	}
	if u.state == finished {
		removePart(t.infoPath(u.info.ID))
		w.Header().Set("Tus-Resumable", "1.0.0")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	t.serve(w, r, t.tusd.DelFile)
}

// uploadJSON is an upload as GET /files/{id} shows it.
type uploadJSON struct {
	ID      string    `json:"id"`
	Offset  int64     `json:"offset"`
	Length  int64     `json:"length"`
	Expires time.Time `json:"expires"`
	JobID   string    `json:"job_id,omitempty"`
}

// status serves GET /files/{id}: the upload's offset and, once finished,
// its job.
func (t *resumable) status(w http.ResponseWriter, r *http.Request) {
	_, u, ok := t.access(w, r)
	if !ok {
		return
	}
	v := uploadJSON{ID: u.info.ID, Offset: u.info.Offset, Length: u.info.Size, Expires: u.expires.UTC()}
	if u.state == finished {
		v.JobID = u.info.MetaData[metaJob]
		w.Header().Set(JobHeader, v.JobID)
	}
	u.setExpires(w)
	writeJSON(w, http.StatusOK, v)
}

// each calls f with every upload's record; those it cannot read are
// skipped.
func (t *resumable) each(f func(*tusUpload)) error {
	entries, err := os.ReadDir(t.store.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".info")
		if !ok || !validUploadID(id) {
			continue
		}
		if u, err := t.read(id); err == nil {
			f(u)
		}
	}
	return nil
}

// unfinished counts user's uploads that are neither finished nor expired.
func (t *resumable) unfinished(user string) (int, error) {
	n, owner, now := 0, mp3converter.Owner(user), t.now()
	err := t.each(func(u *tusUpload) {
		if u.state != finished && now.Before(u.expires) && mp3converter.Owner(u.info.MetaData[metaUser]) == owner {
			n++
		}
	})
	return n, err
}

// SweepUploads removes the resumable uploads that have expired, their
// parts and their records, and returns how many; a PATCH in progress on
// one is stopped. Errors are the directory's.
func (g *Gateway) SweepUploads(ctx context.Context) (int, error) {
	t, err := g.tusServer()
	if err != nil {
		return 0, nil // no /files/
	}
	var expired []string
	now := t.now()
	err = t.each(func(u *tusUpload) {
		if !now.Before(u.expires) {
			expired = append(expired, u.info.ID)
		}
	})
	for _, id := range expired {
		t.remove(ctx, id)
	}
	return len(expired), err
}

// remove removes upload id, under its lock if it can get it in a few
// seconds (asking a PATCH that holds it to stop).
func (t *resumable) remove(ctx context.Context, id string) {
	if lock, err := t.locker.NewLock(id); err == nil {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if lock.Lock(lctx, func() {}) == nil {
			defer lock.Unlock()
		}
		cancel()
	}
	removePart(t.binPath(id))
	removePart(t.infoPath(id))
	t.g.Logger.Info("UploadExpired", "upload_id", id)
}

// RunUploadSweeper sweeps expired uploads every interval until ctx ends.
func (g *Gateway) RunUploadSweeper(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if n, err := g.SweepUploads(ctx); err != nil {
			g.Logger.Error("UploadSweepFailed", "err", err)
		} else if n > 0 {
			g.Logger.Info("UploadsSwept", "uploads", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// UploadSweepInterval is how often uploads that expire after expiry are
// swept: a quarter of it, at most 10 minutes.
func UploadSweepInterval(expiry time.Duration) time.Duration {
	return min(max(expiry/4, 100*time.Millisecond), 10*time.Minute)
}

func openPart(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoUpload
	}
	return f, err
}

func removePart(path string) {
	os.Remove(path)
}
