package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event is one event of GET /jobs/events.
type Event struct {
	ID   string // the cursor to resume after this event
	Type string // "job", "deleted" or "refetch"
	Data []byte
	// Job is the job's state, for a "job" event.
	Job *Job
	// Deleted is the deleted job's id, for a "deleted" event.
	Deleted string
	// Refetch is set for a "refetch" event: the server did not replay what
	// changed since the cursor resumed after (too long ago, or too much),
	// so the jobs followed must be read afresh (GET /jobs, /jobs/{id}).
	Refetch bool
}

// Stream follows the server's job changes over Server-Sent Events and
// reconnects when the connection drops, sending the last event's cursor
// (Last-Event-ID) so that no change is missed.
type Stream struct {
	Client *Client
	// All asks for every user's jobs (admins).
	All bool
	// LastEventID is the cursor to resume after; Run keeps it current.
	LastEventID string
	// Retry is the first wait before reconnecting (default 1 s); the
	// server's retry: field replaces it. It doubles with each failure in a
	// row, up to 30 s.
	Retry time.Duration
	// Idle is how long a connection may stay silent, heartbeats included,
	// before it counts as dropped (default 60 s; the server pings every 15 s).
	Idle time.Duration
	// MaxFailures is how many connections in a row may fail before Run
	// gives up (default 5).
	MaxFailures int
	// OnDrop, if not nil, is told of each drop before the reconnection.
	OnDrop func(err error)
}

// errFatal marks a refusal that reconnecting cannot fix.
type errFatal struct{ error }

func (e errFatal) Unwrap() error { return e.error }

// Run calls fn with each event until ctx ends (ctx.Err()), fn returns an
// error (that error), the server refuses the stream (an *APIError: 401,
// 403, 404...), or MaxFailures connections in a row fail (the last error).
func (s *Stream) Run(ctx context.Context, fn func(Event) error) error {
	retry := cmpDuration(s.Retry, time.Second)
	limit := s.MaxFailures
	if limit <= 0 {
		limit = 5
	}
	failures := 0
	for {
		got, err := s.connect(ctx, fn, &retry)
		var fatal errFatal
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &fatal):
			return fatal.error
		case got:
			failures = 0
		default:
			failures++
		}
		if failures >= limit {
			return fmt.Errorf("event stream: %w", err)
		}
		if s.OnDrop != nil {
			s.OnDrop(err)
		}
		wait := min(retry<<max(failures-1, 0), 30*time.Second)
		if api, ok := errors.AsType[*APIError](err); ok && api.RetryAfter > wait {
			wait = api.RetryAfter // 429: too many streams open
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// connect opens the stream once and reads it until it ends; got says
// whether any event arrived.
func (s *Stream) connect(ctx context.Context, fn func(Event) error, retry *time.Duration) (got bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	path := "/jobs/events"
	if s.All {
		path += "?all=true"
	}
	req, err := s.Client.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return false, errFatal{err}
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-store")
	if s.LastEventID != "" {
		req.Header.Set("Last-Event-ID", s.LastEventID)
	}
	// A silent connection may be dead without the OS knowing: the watchdog
	// ends it so that it is reopened.
	idle := cmpDuration(s.Idle, time.Minute)
	watchdog := time.AfterFunc(idle, cancel)
	defer watchdog.Stop()
	resp, err := s.Client.send(req)
	if err != nil {
		var api *APIError
		if errors.As(err, &api) && api.Status/100 == 4 && api.Status != 408 && api.Status != 429 {
			return false, errFatal{fmt.Errorf("event stream: %w", err)}
		}
		return false, err
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return false, errFatal{fmt.Errorf("event stream: the server answered %q, not text/event-stream", mt)}
	}
	r := &sseReader{sc: bufio.NewScanner(resp.Body), onLine: func() { watchdog.Reset(idle) }}
	r.sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	return s.read(r, fn, retry)
}

// read dispatches the events of one connection.
func (s *Stream) read(r *sseReader, fn func(Event) error, retry *time.Duration) (got bool, err error) {
	for {
		ev, err := r.next()
		if r.retry > 0 {
			*retry = r.retry
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // the stream never ends by itself
			}
			return got, err
		}
		if ev.ID != "" {
			s.LastEventID = ev.ID
		}
		if ev.Type == "" {
			continue // an id or retry alone
		}
		got = true
		if err := fn(ev); err != nil {
			return got, errFatal{err}
		}
	}
}

// sseReader parses the text/event-stream format.
type sseReader struct {
	sc     *bufio.Scanner
	onLine func()
	retry  time.Duration
}

// next returns the next event; one with an empty Type carried no data.
func (r *sseReader) next() (Event, error) {
	var ev Event
	var data []string
	for r.sc.Scan() {
		r.onLine()
		line := r.sc.Text()
		if line == "" {
			if data == nil {
				if ev.ID != "" {
					return ev, nil
				}
				continue
			}
			return decodeEvent(ev, strings.Join(data, "\n")), nil
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: the heartbeat
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.Type = value
		case "data":
			data = append(data, value)
		case "id":
			if !strings.ContainsRune(value, 0) {
				ev.ID = value
			}
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms > 0 {
				r.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if err := r.sc.Err(); err != nil {
		return ev, err
	}
	return ev, io.EOF
}

// decodeEvent fills in the job or the deleted id from the data.
func decodeEvent(ev Event, data string) Event {
	ev.Type = strings.TrimSpace(ev.Type)
	if ev.Type == "" {
		ev.Type = "message"
	}
	ev.Data = []byte(data)
	switch ev.Type {
	case "job":
		var j Job
		if json.Unmarshal(ev.Data, &j) == nil {
			ev.Job = &j
		}
	case "deleted":
		var d struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(ev.Data, &d) == nil {
			ev.Deleted = d.ID
		}
	case "refetch":
		ev.Refetch = true
	}
	return ev
}

// Tracker keeps the latest state of every job an event stream reports and
// wakes those waiting for a change.
type Tracker struct {
	mu        sync.Mutex
	jobs      map[string]Job
	deleted   map[string]bool
	refetches int
	changed   chan struct{}
	err       error
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{jobs: map[string]Job{}, deleted: map[string]bool{}, changed: make(chan struct{})}
}

// Handle records an event; pass it to Stream.Run.
func (t *Tracker) Handle(ev Event) error {
	switch {
	case ev.Job != nil:
		t.Set(*ev.Job)
	case ev.Deleted != "":
		t.mu.Lock()
		defer t.mu.Unlock()
		t.deleted[ev.Deleted] = true
		t.wake()
	case ev.Refetch:
		t.mu.Lock()
		defer t.mu.Unlock()
		t.refetches++
		t.wake()
	}
	return nil
}

// Set records a job's state, unless a newer one is known.
func (t *Tracker) Set(j Job) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.jobs[j.ID]; ok && old.UpdatedAt.After(j.UpdatedAt) {
		return
	}
	t.jobs[j.ID] = j
	t.wake()
}

// Fail records why the stream ended, waking every waiter.
func (t *Tracker) Fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.err = err
	t.wake()
}

func (t *Tracker) wake() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// JobState is what a Tracker knows of one job.
type JobState struct {
	Job     Job
	Known   bool // Job is set
	Deleted bool
	// StreamErr is why the stream ended, if it did: no more changes come.
	StreamErr error
	// Refetches counts the stream's refetch events: each says that changes
	// were skipped. A waiter that has seen fewer reads its job afresh.
	Refetches int
	// Changed is closed at the next change of any job.
	Changed <-chan struct{}
}

// Get returns what is known of job id.
func (t *Tracker) Get(id string) JobState {
	t.mu.Lock()
	defer t.mu.Unlock()
	j, ok := t.jobs[id]
	return JobState{Job: j, Known: ok, Deleted: t.deleted[id], StreamErr: t.err, Refetches: t.refetches, Changed: t.changed}
}
