package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStreamReconnects: when the connection drops, the stream reconnects
// with the last event's id as Last-Event-ID and goes on from there; comments
// (heartbeats), retry: and an id-only block are handled as the format says.
func TestStreamReconnects(t *testing.T) {
	var mu sync.Mutex
	var lastIDs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		n := len(lastIDs)
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer tok" || r.URL.Path != "/jobs/events" {
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		switch n {
		case 1:
			fmt.Fprint(w, "retry: 10\n: ping\n\n")
			fmt.Fprint(w, "event: job\nid: 1-0\ndata: {\"id\":\"a\",\"status\":\"processing\",\"progress\":0.5}\n\n")
			fmt.Fprint(w, "event: deleted\nid: 1-1\ndata: {\"id\":\"b\"}\n\n")
			// Half an event, then the connection drops: not dispatched.
			fmt.Fprint(w, "event: job\nid: 1-2\ndata: {\"id\":\"a\"")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case 2:
			fmt.Fprint(w, "event: job\r\nid: 2-0\r\ndata: {\"id\":\"a\",\r\ndata: \"status\":\"done\"}\r\n\r\n")
		default:
			http.Error(w, "gone", http.StatusNotFound)
		}
	}))
	defer srv.Close()

	s := &Stream{Client: New(srv.URL, "tok"), Retry: time.Millisecond, MaxFailures: 3}
	var got []string
	err := s.Run(context.Background(), func(ev Event) error {
		switch {
		case ev.Job != nil:
			got = append(got, fmt.Sprintf("%s %s:%s:%.1f", ev.ID, ev.Type, ev.Job.Status, ev.Job.Progress))
		default:
			got = append(got, fmt.Sprintf("%s %s:%s", ev.ID, ev.Type, ev.Deleted))
		}
		return nil
	})
	if !IsStatus(err, http.StatusNotFound) {
		t.Errorf("Run ended with %v, want the 404 of the third connection", err)
	}
	want := []string{"1-0 job:processing:0.5", "1-1 deleted:b", "2-0 job:done:0.0"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events %q, want %q", got, want)
	}
	if strings.Join(lastIDs, ",") != ",1-1,2-0" {
		t.Errorf("Last-Event-ID of each connection: %q, want none, 1-1, 2-0", lastIDs)
	}
	if s.LastEventID != "2-0" {
		t.Errorf("LastEventID %q", s.LastEventID)
	}
}

// TestStreamGivesUp: a refusal is returned at once; a server that keeps
// failing is given up on after MaxFailures tries; fn's error ends the
// stream; a silent connection is dropped after Idle.
func TestStreamGivesUp(t *testing.T) {
	var calls int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		mu.Unlock()
		switch r.URL.Query().Get("all") {
		case "true": // not an event stream
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":"the store is unavailable"}`)
		default: // an event, then silence
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			io.WriteString(w, "event: job\ndata: {\"id\":\"a\"}\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	defer srv.Close()

	s := &Stream{Client: New(srv.URL, ""), All: true, Retry: time.Millisecond, MaxFailures: 3}
	err := s.Run(context.Background(), func(Event) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "the store is unavailable") || calls != 3 {
		t.Errorf("after %d calls: %v", calls, err)
	}

	stop := errors.New("stop")
	var drops int
	s = &Stream{Client: New(srv.URL, ""), Retry: time.Millisecond, Idle: 50 * time.Millisecond,
		OnDrop: func(error) { drops++ }}
	n := 0
	err = s.Run(context.Background(), func(Event) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || drops != 1 {
		t.Errorf("Run = %v after %d drops; want fn's error after 1 drop (idle)", err, drops)
	}
}

// TestTracker: the newest state wins and waiters are woken.
func TestTracker(t *testing.T) {
	tr := NewTracker()
	st := tr.Get("a")
	if st.Known {
		t.Fatal("unknown job found")
	}
	now := time.Now()
	tr.Handle(Event{Type: "job", Job: &Job{ID: "a", Status: StatusDone, UpdatedAt: now}})
	select {
	case <-st.Changed:
	default:
		t.Fatal("waiter not woken")
	}
	tr.Set(Job{ID: "a", Status: StatusProcessing, UpdatedAt: now.Add(-time.Second)})
	if st := tr.Get("a"); st.Job.Status != StatusDone {
		t.Errorf("an older state replaced a newer one: %s", st.Job.Status)
	}
	tr.Fail(io.ErrUnexpectedEOF)
	tr.Handle(Event{Type: "deleted", Deleted: "a"})
	if st := tr.Get("a"); st.StreamErr != io.ErrUnexpectedEOF || !st.Deleted {
		t.Errorf("state %+v", st)
	}
}

// TestStreamRefetch: a refetch event reaches fn, and the tracker counts it
// and wakes its waiters, who read their jobs afresh; a 429's Retry-After
// is waited out before reconnecting.
func TestStreamRefetch(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		n := len(at)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too many event streams open; close one, or try again later", http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "id: 9-e-3\nevent: refetch\ndata: {}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()

	tr := NewTracker()
	before := tr.Get("a")
	s := &Stream{Client: New(srv.URL, "tok"), Retry: time.Millisecond}
	stop := errors.New("stop")
	var got Event
	err := s.Run(context.Background(), func(ev Event) error {
		got = ev
		tr.Handle(ev)
		return stop
	})
	if !errors.Is(err, stop) || !got.Refetch || got.Type != "refetch" || got.ID != "9-e-3" || s.LastEventID != "9-e-3" {
		t.Fatalf("Run = %v with %+v; want the refetch event", err, got)
	}
	select {
	case <-before.Changed:
	default:
		t.Error("the refetch did not wake the tracker's waiters")
	}
	if st := tr.Get("a"); st.Refetches != 1 {
		t.Errorf("Refetches = %d, want 1", st.Refetches)
	}
	if wait := at[1].Sub(at[0]); wait < time.Second {
		t.Errorf("reconnected %v after a 429 with Retry-After 1, want 1 s or more", wait)
	}
}
