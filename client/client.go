// Package client is a Go client of the mp3converter HTTP API, as
// docs/openapi.yaml describes it: sign in, upload a video with progress,
// follow its conversion over the event stream (GET /jobs/events), list
// jobs, download MP3s and manage webhooks. It streams media both ways and
// never holds a whole file in memory. The commands of package app use it.
//
// Every method returns an *APIError for a response outside 2xx, carrying
// the server's message, so callers can show users why.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one server with one token.
type Client struct {
	// Server is the base URL, e.g. http://localhost:8080.
	Server string
	// Token is the JWT sent as a Bearer token; empty for Login.
	Token string
	// Device is the device cookie, "name=value", that the server set at an
	// earlier login of this account: Login sends it, and keeps the new one
	// the server sets. While strangers spend an account's login budget,
	// the server still lets in a client that holds one.
	Device string
	// HTTP is the client used; nil means one without a timeout, because
	// uploads, downloads and the event stream run as long as they need.
	HTTP *http.Client
}

// New returns a client of server (a base URL) with token.
func New(server, token string) *Client {
	return &Client{Server: strings.TrimRight(server, "/"), Token: token}
}

// APIError is a response outside 2xx.
type APIError struct {
	Status     int    // the HTTP status code
	Message    string // the server's message
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	}
	return e.Message
}

// IsStatus says whether err is an *APIError with that status.
func IsStatus(err error, status int) bool {
	var e *APIError
	return errors.As(err, &e) && e.Status == status
}

// Job is a job as GET /jobs/{id} shows it: the gateway serves this type,
// so the two cannot drift apart.
type Job struct {
	ID          string     `json:"id"`
	Status      string     `json:"status"`
	Filename    string     `json:"filename"`
	VideoFID    string     `json:"video_fid"`
	MP3FID      *string    `json:"mp3_fid"`
	Error       *string    `json:"error"`
	Attempts    int        `json:"attempts"`
	Progress    float64    `json:"progress"`
	Duration    float64    `json:"duration_seconds"`
	Size        int64      `json:"size"`
	MP3Size     int64      `json:"mp3_size"`
	Copied      bool       `json:"audio_copied"`
	Owner       string     `json:"owner"`
	DownloadURL string     `json:"download_url,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	NotifiedAt  *time.Time `json:"notified_at"`
	// Options are those the job was uploaded with; unset ones are omitted.
	Options JobOptions `json:"options"`
}

// JobOptions are an upload's options (POST /upload's form fields), as a
// job records them. Zero fields are the defaults and are left out.
type JobOptions struct {
	Quality    string  `json:"quality,omitempty"`     // VBR "V0" to "V9"
	Bitrate    int     `json:"bitrate,omitempty"`     // CBR kbit/s
	Channels   int     `json:"channels,omitempty"`    // 1 or 2
	SampleRate int     `json:"sample_rate,omitempty"` // Hz
	Start      float64 `json:"start,omitempty"`       // seconds
	End        float64 `json:"end,omitempty"`         // seconds
	Normalize  bool    `json:"normalize,omitempty"`
	Title      string  `json:"title,omitempty"`
}

// Job statuses.
const (
	StatusQueued     = "queued"
	StatusProcessing = "processing"
	StatusDone       = "done"
	StatusFailed     = "failed"
)

// Finished says whether the job is done or failed.
func (j *Job) Finished() bool { return j.Status == StatusDone || j.Status == StatusFailed }

// Reason is why the job failed, or "".
func (j *Job) Reason() string {
	if j.Error == nil {
		return ""
	}
	return *j.Error
}

// request builds a request to path (with its query) carrying the token.
func (c *Client) request(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.Server+path, body)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// send runs req and turns a status outside 2xx into an *APIError; on
// success the caller closes the body.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, readError(resp)
	}
	return resp, nil
}

// readError reads the server's message: {"error": "..."} or plain text.
func readError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	e := &APIError{Status: resp.StatusCode, Message: strings.TrimSpace(string(b))}
	var j struct {
		Error string `json:"error"`
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Unmarshal(b, &j) == nil && j.Error != "" {
		e.Message = j.Error
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}

// getJSON GETs path and decodes the JSON answer into v.
func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	return c.doJSON(ctx, http.MethodGet, path, nil, v)
}

// doJSON sends in (if not nil) as JSON and decodes the answer into out (if
// not nil).
func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := c.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.send(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return nil
}

// Login signs in with email and password and returns the token. A wrong
// password is an *APIError with status 401; too many attempts, 429.
func (c *Client) Login(ctx context.Context, email, password string) (string, error) {
	req, err := c.request(ctx, http.MethodPost, "/login", nil)
	if err != nil {
		return "", err
	}
	req.Header.Del("Authorization")
	req.SetBasicAuth(email, password)
	if c.Device != "" {
		req.Header.Set("Cookie", c.Device)
	}
	resp, err := c.send(req)
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	defer resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if strings.HasPrefix(ck.Name, "mp3c_device_") {
			c.Device = ck.Name + "=" + ck.Value
		}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// JobQuery chooses the jobs Jobs lists (GET /jobs's query).
type JobQuery struct {
	// All asks for every user's jobs (an admin's right; others get their
	// own).
	All bool
	// Status keeps the jobs of one status (StatusQueued...); "" for any.
	Status string
	// Limit is the most jobs listed, newest first; 0 for the server's
	// default (100), at most 1000.
	Limit int
}

// Jobs lists the caller's jobs that q chooses, newest first: the first
// page only. A bad query is an *APIError with status 400.
func (c *Client) Jobs(ctx context.Context, q JobQuery) ([]Job, error) {
	v := url.Values{}
	if q.All {
		v.Set("all", "true")
	}
	if q.Status != "" {
		v.Set("status", q.Status)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := "/jobs"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var jobs []Job
	return jobs, c.getJSON(ctx, path, &jobs)
}

// Job returns one job; an *APIError with 404 if there is no such job.
func (c *Client) Job(ctx context.Context, id string) (*Job, error) {
	var j Job
	if err := c.getJSON(ctx, "/jobs/"+url.PathEscape(id), &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Download writes the MP3 of a done job to w and returns its size.
func (c *Client) Download(ctx context.Context, mp3FID string, w io.Writer) (int64, error) {
	req, err := c.request(ctx, http.MethodGet, "/download?fid="+url.QueryEscape(mp3FID), nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.send(req)
	if err != nil {
		return 0, fmt.Errorf("download: %w", err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return n, fmt.Errorf("download: %w", err)
	}
	return n, nil
}
