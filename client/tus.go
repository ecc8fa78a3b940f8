package client

// Resumable uploads: a small tus 1.0 client of the gateway's /files/
// (core protocol and creation). An upload's URL is kept in an UploadState
// file, keyed by the file's path, size and modification time, so that a
// later run on the same file resumes where the server's offset says.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ResumableAbove is the size past which a command sends a file with a
// resumable upload rather than POST /upload.
const ResumableAbove = 32 << 20

// JobHeader names the job a finished resumable upload became.
const JobHeader = "Mp3converter-Job"

// tusRetries is how many times in a row a cut or refused PATCH is tried
// again from the server's offset.
const tusRetries = 6

// UploadState keeps resumable uploads' URLs between runs, in a JSON file
// readable by the user alone. The zero Path keeps nothing.
type UploadState struct {
	Path string
	mu   sync.Mutex
}

// UploadStatePath is uploads.json beside the saved login (see
// CredentialsPath).
func UploadStatePath() (string, error) {
	p, err := CredentialsPath()
	if err != nil {
		return "", err
	}
	return filepath.Join(filepath.Dir(p), "uploads.json"), nil
}

type uploadEntry struct {
	URL     string    `json:"url"`
	SavedAt time.Time `json:"saved_at"`
}

// stateKey names a file as it is now: a file changed since is another.
func stateKey(server, path string, st os.FileInfo) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	return fmt.Sprintf("%s|%s|%d|%d", server, abs, st.Size(), st.ModTime().UnixNano())
}

func (s *UploadState) load() map[string]uploadEntry {
	m := map[string]uploadEntry{}
	if s == nil || s.Path == "" {
		return m
	}
	if b, err := os.ReadFile(s.Path); err == nil {
		json.Unmarshal(b, &m)
	}
	return m
}

func (s *UploadState) get(key string) string {
	if s == nil {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load()[key].URL
}

// set records url for key, or forgets key if url is "". Entries older
// than a week are dropped: the server has swept those uploads.
func (s *UploadState) set(key, url string) error {
	if s == nil || s.Path == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.load()
	maps.DeleteFunc(m, func(_ string, e uploadEntry) bool { return time.Since(e.SavedAt) > 7*24*time.Hour })
	if url == "" {
		delete(m, key)
	} else {
		m[key] = uploadEntry{URL: url, SavedAt: time.Now().UTC()}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.Path), 0o700); err != nil {
		return err
	}
	tmp := s.Path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, s.Path)
}

// tusUpload is one resumable upload in progress.
type tusUpload struct {
	c        *Client
	f        *os.File
	size     int64
	url      string // absolute
	offset   int64
	progress func(int64)
}

// UploadFileResumable sends the file at path through /files/ (tus 1.0),
// with the upload's options as its metadata, and returns the queued job.
// It resumes the upload that state records for this file (the same path,
// size and modification time) from the server's offset, or creates one
// and records it; a connection cut or a 5xx or 429 mid-way is tried again
// from the server's offset, a few times. The record is dropped once the
// job is made. Errors are as UploadFile's.
func (c *Client) UploadFileResumable(ctx context.Context, path string, options url.Values, progress func(int64), state *UploadState) (*Accepted, error) {
	f, st, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	key := stateKey(c.Server, path, st)
	u := &tusUpload{c: c, f: f, size: st.Size(), progress: progress}
	job, err := u.resume(ctx, state.get(key))
	if err == nil && job == "" && u.url == "" {
		if err = u.create(ctx, filepath.Base(path), options); err == nil {
			state.set(key, u.url)
		}
	}
	if err == nil && job == "" {
		job, err = u.send(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", filepath.Base(path), err)
	}
	state.set(key, "")
	return &Accepted{JobID: job, Status: StatusQueued}, nil
}

// resume asks the server for the offset of the upload at url, if any. It
// returns the job if the upload is finished; a URL the server no longer
// knows is forgotten (u.url stays "").
func (u *tusUpload) resume(ctx context.Context, url string) (job string, err error) {
	if url == "" {
		return "", nil
	}
	u.url = url
	job, err = u.head(ctx)
	if IsStatus(err, http.StatusNotFound) || IsStatus(err, http.StatusGone) || IsStatus(err, http.StatusForbidden) {
		u.url = ""
		return "", nil
	}
	return job, err
}

func (u *tusUpload) request(ctx context.Context, method, url string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Authorization", "Bearer "+u.c.Token)
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// create creates the upload (POST /files/) and sets u.url.
func (u *tusUpload) create(ctx context.Context, name string, options url.Values) error {
	req, err := u.request(ctx, http.MethodPost, u.c.Server+"/files", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Upload-Length", strconv.FormatInt(u.size, 10))
	meta := []string{"filename " + base64.StdEncoding.EncodeToString([]byte(name))}
	for _, k := range slices.Sorted(maps.Keys(options)) {
		if v := options.Get(k); v != "" {
			meta = append(meta, k+" "+base64.StdEncoding.EncodeToString([]byte(v)))
		}
	}
	req.Header.Set("Upload-Metadata", strings.Join(meta, ","))
	resp, err := u.c.send(req)
	if err != nil {
		return tusMessage(err)
	}
	resp.Body.Close()
	loc, err := req.URL.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return errors.New("the server named no upload URL")
	}
	u.url, u.offset = loc.String(), 0
	return nil
}

// head reads the upload's offset, and its job once finished.
func (u *tusUpload) head(ctx context.Context) (job string, err error) {
	req, err := u.request(ctx, http.MethodHead, u.url, nil)
	if err != nil {
		return "", err
	}
	resp, err := u.c.send(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if u.offset, err = strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64); err != nil {
		return "", errors.New("the server gave no Upload-Offset")
	}
	if u.progress != nil {
		u.progress(u.offset)
	}
	return resp.Header.Get(JobHeader), nil
}

// send PATCHes the rest of the file until the server names the job,
// trying again from the server's offset after a cut connection or a
// passing refusal.
func (u *tusUpload) send(ctx context.Context) (string, error) {
	for failures := 0; ; {
		job, err := u.patch(ctx)
		if err == nil && job != "" {
			return job, nil
		}
		if err == nil {
			continue // the server stored a part: send the rest
		}
		if ctx.Err() != nil || !retryable(err) || failures >= tusRetries {
			return "", tusMessage(err)
		}
		failures++
		wait := time.Duration(failures) * time.Second
		var api *APIError
		if errors.As(err, &api) && api.RetryAfter > 0 {
			wait = api.RetryAfter
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
		if job, err := u.head(ctx); err != nil || job != "" {
			return job, tusMessage(err)
		}
	}
}

// retryable says whether a failed PATCH may be tried again: the
// connection was cut, or the server refused for a while.
func retryable(err error) bool {
	var api *APIError
	if !errors.As(err, &api) {
		return true // the connection
	}
	return api.Status >= 500 || api.Status == http.StatusTooManyRequests || api.Status == http.StatusConflict ||
		api.Status == http.StatusRequestTimeout
}

// patch sends the file from u.offset and returns the job if the upload
// is finished.
func (u *tusUpload) patch(ctx context.Context) (string, error) {
	body := &countingReader{r: io.NewSectionReader(u.f, u.offset, u.size-u.offset), fn: u.report(u.offset)}
	req, err := u.request(ctx, http.MethodPatch, u.url, body)
	if err != nil {
		return "", err
	}
	req.ContentLength = u.size - u.offset
	req.Header.Set("Upload-Offset", strconv.FormatInt(u.offset, 10))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err := u.c.send(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if n, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64); err == nil {
		u.offset = n
	}
	job := resp.Header.Get(JobHeader)
	if job == "" && u.offset >= u.size {
		return "", errors.New("the upload ended but the server named no job")
	}
	return job, nil
}

func (u *tusUpload) report(base int64) func(int64) {
	if u.progress == nil {
		return nil
	}
	return func(n int64) { u.progress(base + n) }
}

// tusMessage drops tusd's error code before the server's message
// ("ERR_UPLOAD_TOO_SLOW: the upload was too slow...").
func tusMessage(err error) error {
	var api *APIError
	if errors.As(err, &api) {
		if code, msg, ok := strings.Cut(api.Message, ": "); ok && strings.HasPrefix(code, "ERR_") {
			api.Message = msg
		}
	}
	return err
}
