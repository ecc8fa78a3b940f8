package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/jobfeed"
)

var (
	errNoFeed     = mp3converter.Errorf(mp3converter.EUNAVAILABLE, "live updates are unavailable")
	errStreamBody = mp3converter.Errorf(mp3converter.EINVALID, "GET /jobs/events takes no request body")
	// errTooManyStreams refuses a stream over a cap. Streams last as long
	// as their clients like, so a retry comes later than an upload's.
	errTooManyStreams = &retryAfterError{
		err:   mp3converter.Errorf(mp3converter.ETOOMANY, "too many event streams open; close one, or try again later"),
		after: 10 * time.Second,
	}
)

// events serves GET /jobs/events: Server-Sent Events of the caller's job
// changes (an admin's with ?all=true: everyone's). Without Last-Event-ID
// (or ?last_event_id=) it starts with the caller's newest jobs; with one,
// with every change since, or with a refetch event when there are too many
// (see jobfeed.Subscribe). It ends when the client goes, when it falls too
// far behind (it reconnects and replays), or when the server shuts down.
// Past the caps on open streams (g.Streams) it answers 429.
func (g *Gateway) events(w http.ResponseWriter, r *http.Request, c *auth.Claims) {
	if g.Feed == nil {
		Error(w, r, g.Logger, errNoFeed)
		return
	}
	if r.ContentLength != 0 { // a length, or chunked (-1); the server closes the connection (guardBody)
		Error(w, r, g.Logger, errStreamBody)
		return
	}
	release, refusedBy, err := g.Streams.acquire(r.Context(), c.Owner())
	if err != nil {
		g.Logger.Warn("EventStreamRefused", "request_id", requestID(r.Context()), "cap", refusedBy)
		Error(w, r, g.Logger, err)
		return
	}
	defer release()
	owner := c.Owner()
	if all, _ := strconv.ParseBool(r.URL.Query().Get("all")); all && c.SiteAdmin {
		owner = ""
	}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	sub, backlog, err := g.Feed.Subscribe(r.Context(), owner, last)
	if err != nil {
		Error(w, r, g.Logger, err)
		return
	}
	defer sub.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	s := &eventStream{w: w, rc: http.NewResponseController(w), idle: g.idle()}
	// The server sets no write timeout, but a deadline per write still cuts
	// a client that stops reading; none is left for the connection's next
	// request.
	defer s.rc.SetWriteDeadline(time.Time{})
	if s.send(backlog...) != nil {
		return
	}
	heartbeat := time.NewTicker(g.heartbeat())
	defer heartbeat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case ev, ok := <-sub.C:
			if !ok || s.send(ev) != nil {
				return
			}
		case <-heartbeat.C:
			if s.write(": ping\n\n") != nil {
				return
			}
		}
	}
}

func (g *Gateway) heartbeat() time.Duration {
	if g.Heartbeat > 0 {
		return g.Heartbeat
	}
	return 15 * time.Second
}

// eventStream writes Server-Sent Events, each flushed at once.
type eventStream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

// send writes evs: a job as GET /jobs/{id} shows it, a deletion, or a
// refetch (read your jobs afresh: more changed than a replay sends).
func (s *eventStream) send(evs ...jobfeed.Event) error {
	var b strings.Builder
	for _, ev := range evs {
		var name string
		var data []byte
		switch {
		case ev.Refetch:
			name, data = "refetch", []byte("{}")
		case ev.Deleted:
			name, data = "deleted", mustJSON(map[string]string{"id": ev.ID})
		default:
			name, data = "job", mustJSON(toJSON(ev.Job))
		}
		b.WriteString("id: " + ev.Cursor + "\nevent: " + name + "\ndata: ")
		b.Write(data)
		b.WriteString("\n\n")
	}
	if b.Len() == 0 {
		return s.rc.Flush() // the headers, so that the client knows it is connected
	}
	return s.write(b.String())
}

func (s *eventStream) write(text string) error {
	s.rc.SetWriteDeadline(time.Now().Add(s.idle))
	if _, err := s.w.Write([]byte(text)); err != nil {
		return err
	}
	return s.rc.Flush()
}

// mustJSON encodes v on one line; v's types always encode.
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
