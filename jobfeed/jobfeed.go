// Package jobfeed is a gateway's feed of job changes, for live updates.
//
// One poller per process (Run) asks the job store for the rows changed
// since its last look, one query per interval however many subscribers
// there are, and fans each change out to them. The store is the source
// because every converter, in this process or another, and the
// notification role record there what happens to a job. What this
// process writes itself comes at once, through Changed, without a poll.
// Each event gets a cursor that is monotonic within the process; a ring
// of recent events replays exactly what a reconnecting subscriber missed,
// and a cursor the ring no longer covers (or another process's) falls back
// to the store: the current state of the jobs changed since the cursor's
// time. That
// fallback is bounded, since a forged cursor may name any time: only a
// cursor within ReplayWindow is looked up, and only up to snapshotSize
// jobs are sent. Past either bound the subscriber gets one Refetch event
// instead, and reads its jobs afresh while the stream goes on from now.
//
// A deleted row cannot be seen by polling: Deleted publishes the deletion
// of a job this process deleted at once, and the poll reads the deletions
// of every process from a store that remembers them
// (mp3converter.JobDeletions), publishing each once.
package jobfeed

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mp3converter/mp3converter"
)

// Event is one change of a job.
type Event struct {
	// Cursor names the event's place in the feed, for Subscribe.
	Cursor  string
	Job     *mp3converter.Job // the job as changed; nil if Deleted
	ID      string
	Owner   string
	Deleted bool
	// Refetch replaces a replay that would be too long or too old: the
	// subscriber should read its jobs afresh. No job comes with it; Cursor
	// is where the stream goes on from.
	Refetch bool
	seq     uint64
}

// Defaults of the Feed's settings.
const (
	DefaultInterval = 500 * time.Millisecond
	DefaultOverlap  = 2 * time.Second
	DefaultRing     = 4096
	DefaultBuffer   = 256
	// DefaultReplayWindow covers a client that was away for a while (a
	// laptop's lid closed, a network switched, a gateway replaced in a
	// rolling update). It bounds what the store's query reads, every
	// user's changes since the cursor's time: older, a client is better
	// off reading its list afresh.
	DefaultReplayWindow = 10 * time.Minute
	// snapshotSize is how many of the newest jobs a new subscriber gets,
	// and the most jobs a replay from the store sends.
	snapshotSize = 100
	// pageSize and maxPages bound one poll.
	pageSize = 1000
	maxPages = 10
)

// ErrClosed is Subscribe's error once the feed is closed.
var ErrClosed = mp3converter.Errorf(mp3converter.EUNAVAILABLE, "shutting down")

// Feed is the change feed. Set its fields before first use; zero settings
// take the defaults above.
type Feed struct {
	Jobs mp3converter.JobStore
	// Interval is how often Run polls the store.
	Interval time.Duration
	// Overlap is how far behind the newest change seen each poll looks
	// again, so that a change committed a little after a later one, or
	// stamped by a converter whose clock lags, is not missed. Clocks of
	// the processes must agree within it.
	Overlap time.Duration
	// Ring is how many recent events are kept for exact replay.
	Ring int
	// Buffer is how many events a subscriber may fall behind by before it
	// is dropped (its channel closed) rather than slow the feed.
	Buffer int
	// ReplayWindow is how old a cursor the ring does not cover may be and
	// still be replayed from the store.
	ReplayWindow time.Duration
	Logger       *slog.Logger

	once   sync.Once
	mu     sync.Mutex
	epoch  string // tells this process's cursors from others'
	seq    uint64 // the last event's
	ring   []Event
	next   int // where the ring's next event goes
	subs   map[*Subscription]struct{}
	closed bool
	high   time.Time        // the newest UpdatedAt seen
	seen   map[string]int64 // job id -> UpdatedAt (µs) of its last event
}

// Subscription receives the events of one subscriber.
type Subscription struct {
	// C delivers events; it is closed when the subscriber fell too far
	// behind or the feed closed.
	C     <-chan Event
	c     chan Event
	owner string // "" for every job
	f     *Feed
}

// Close ends the subscription.
func (s *Subscription) Close() {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.drop(s)
}

func (f *Feed) init() {
	f.once.Do(func() {
		f.epoch = strings.ToLower(rand.Text()[:8])
		f.ring = make([]Event, 0, cmpOr(f.Ring, DefaultRing))
		f.subs = map[*Subscription]struct{}{}
		f.seen = map[string]int64{}
		f.high = time.Now()
		if f.Logger == nil {
			f.Logger = slog.New(slog.DiscardHandler)
		}
	})
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// Run polls the store every Interval until ctx ends.
func (f *Feed) Run(ctx context.Context) {
	f.init()
	t := time.NewTicker(cmpOr(f.Interval, DefaultInterval))
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := f.Poll(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !failing:
			f.Logger.Warn("JobFeedPollFailed", "err", err)
		case err == nil && failing:
			f.Logger.Info("JobFeedPollRecovered")
		}
		failing = err != nil
	}
}

// Poll reads the jobs changed since the last poll and publishes them: one
// query, or a few when more than a page of jobs changed at once. It returns
// the store's error.
func (f *Feed) Poll(ctx context.Context) error {
	f.init()
	f.mu.Lock()
	from := f.high.Add(-cmpOr(f.Overlap, DefaultOverlap))
	f.forget(from) // no poll from now on reads a row older
	f.mu.Unlock()
	for range maxPages {
		jobs, err := f.Jobs.ListJobs(ctx, mp3converter.JobFilter{UpdatedAfter: from, Limit: pageSize})
		if err != nil {
			return fmt.Errorf("job feed: %w", err)
		}
		f.mu.Lock()
		for _, j := range jobs {
			f.changed(j)
		}
		f.mu.Unlock()
		if len(jobs) < pageSize {
			return f.pollDeletions(ctx, from)
		}
		// The rest, from the last one read; rows that share its time are
		// read again and skipped.
		from = jobs[len(jobs)-1].UpdatedAt.Add(-time.Microsecond)
	}
	return nil
}

// pollDeletions publishes the deletions since from that the store
// remembers and this feed has not published.
func (f *Feed) pollDeletions(ctx context.Context, from time.Time) error {
	d, ok := f.Jobs.(mp3converter.JobDeletions)
	if !ok {
		return nil
	}
	dels, err := d.DeletedSince(ctx, from, pageSize)
	if err != nil {
		return fmt.Errorf("job feed: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, del := range dels {
		if _, done := f.seen["deleted:"+del.ID]; done {
			continue
		}
		f.seen["deleted:"+del.ID] = del.At.UnixMicro()
		delete(f.seen, del.ID)
		f.publish(Event{ID: del.ID, Owner: del.Owner, Deleted: true}, del.At)
	}
	return nil
}

// Changed publishes j, a job this process has just written, now rather
// than at the next poll (see sqldb.JobStore.OnChange). Writes of other
// processes are seen by polling.
func (f *Feed) Changed(j *mp3converter.Job) {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changed(j)
}

// changed publishes j unless its event, or a later one of the job, was
// published already, or its deletion: writers tell their changes
// concurrently, so an older one may come last.
func (f *Feed) changed(j *mp3converter.Job) {
	us := j.UpdatedAt.UnixMicro()
	if last, ok := f.seen[j.ID]; ok && us <= last {
		return
	}
	if _, gone := f.seen["deleted:"+j.ID]; gone {
		return
	}
	f.seen[j.ID] = us
	if j.UpdatedAt.After(f.high) {
		f.high = j.UpdatedAt
	}
	f.publish(Event{Job: j, ID: j.ID, Owner: j.Owner}, j.UpdatedAt)
}

// forget drops what polls no longer read again: changes before oldest,
// where the poll under way began. Not f.high's overlap: Changed moves
// f.high on while a poll reads its pages, which would forget rows that
// the poll's next page reads again, and send them again.
func (f *Feed) forget(oldest time.Time) {
	before := oldest.UnixMicro()
	for id, us := range f.seen {
		if us < before {
			delete(f.seen, id)
		}
	}
}

// Deleted publishes that j was deleted.
func (f *Feed) Deleted(j *mp3converter.Job) {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	delete(f.seen, j.ID)
	f.seen["deleted:"+j.ID] = now.UnixMicro() // the poll need not publish it again
	f.publish(Event{ID: j.ID, Owner: j.Owner, Deleted: true}, now)
}

// publish gives ev the next cursor, keeps it in the ring and sends it to
// its subscribers, dropping any whose buffer is full. f.mu is held.
func (f *Feed) publish(ev Event, at time.Time) {
	f.seq++
	ev.seq = f.seq
	ev.Cursor = f.cursor(at, f.seq)
	if len(f.ring) < cap(f.ring) {
		f.ring = append(f.ring, ev)
	} else {
		f.ring[f.next] = ev
	}
	f.next = (f.next + 1) % cap(f.ring)
	for s := range f.subs {
		if !s.wants(ev) {
			continue
		}
		select {
		case s.c <- ev:
		default:
			f.Logger.Warn("JobFeedSubscriberDropped", "owner", s.owner, "buffer", cap(s.c))
			f.drop(s)
		}
	}
}

func (s *Subscription) wants(ev Event) bool { return s.owner == "" || s.owner == ev.Owner }

// drop ends s. f.mu is held.
func (f *Feed) drop(s *Subscription) {
	if _, ok := f.subs[s]; ok {
		delete(f.subs, s)
		close(s.c)
	}
}

// Close ends every subscription and refuses new ones. Run stops with its
// context, not here.
func (f *Feed) Close() {
	f.init()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	for s := range f.subs {
		f.drop(s)
	}
}

// cursor is "<µs>-<epoch>-<seq>": the change's time, for falling back to
// the store, and the process and place of the event, for exact replay.
func (f *Feed) cursor(at time.Time, seq uint64) string {
	return strconv.FormatInt(at.UnixMicro(), 10) + "-" + f.epoch + "-" + strconv.FormatUint(seq, 10)
}

type cursor struct {
	at    time.Time
	epoch string
	seq   uint64
}

func parseCursor(s string) (cursor, bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return cursor{}, false
	}
	us, err1 := strconv.ParseInt(parts[0], 10, 64)
	seq, err2 := strconv.ParseUint(parts[2], 10, 64)
	if err1 != nil || err2 != nil || us <= 0 {
		return cursor{}, false
	}
	return cursor{at: time.UnixMicro(us), epoch: parts[1], seq: seq}, true
}

// Subscribe starts a subscription to the jobs of owner ("" for everyone's)
// and returns it with the events to send before its own: with no
// lastCursor (or one that does not parse), the owner's newest jobs; with a
// cursor the ring covers, every event since; with an older or foreign one
// within ReplayWindow, the current state of the jobs changed since its
// time, if there are at most snapshotSize; else one Refetch event. It
// returns ErrClosed once the feed is closed, or the store's error.
func (f *Feed) Subscribe(ctx context.Context, owner, lastCursor string) (*Subscription, []Event, error) {
	f.init()
	c := make(chan Event, cmpOr(f.Buffer, DefaultBuffer))
	s := &Subscription{C: c, c: c, owner: owner, f: f}
	last, ok := parseCursor(lastCursor)
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, nil, ErrClosed
	}
	f.subs[s] = struct{}{}
	if ok && last.epoch == f.epoch && last.seq <= f.seq && f.seq-last.seq <= uint64(len(f.ring)) {
		replay := f.since(last.seq, s)
		f.mu.Unlock()
		return s, replay, nil
	}
	// Whatever changes from here on reaches s; a cursor of now replays it.
	at := time.Now()
	now := f.cursor(at, f.seq)
	f.mu.Unlock()
	refetch := []Event{{Cursor: now, Refetch: true}}
	filter := mp3converter.JobFilter{Owner: owner, Limit: snapshotSize}
	if ok {
		overlap := cmpOr(f.Overlap, DefaultOverlap)
		// A cursor from the future is forged, or from a clock far off.
		if last.at.Before(at.Add(-cmpOr(f.ReplayWindow, DefaultReplayWindow))) || last.at.After(at.Add(overlap)) {
			return s, refetch, nil
		}
		// One more than is sent tells that there are too many.
		filter = mp3converter.JobFilter{Owner: owner, UpdatedAfter: last.at.Add(-overlap), Limit: snapshotSize + 1}
	}
	jobs, err := f.Jobs.ListJobs(ctx, filter)
	if err != nil {
		s.Close()
		return nil, nil, fmt.Errorf("job feed: %w", err)
	}
	if len(jobs) > snapshotSize {
		return s, refetch, nil
	}
	if !ok { // newest first: send the oldest first, as changes come
		slices.Reverse(jobs)
	}
	events := make([]Event, len(jobs))
	for i, j := range jobs {
		events[i] = Event{Cursor: now, Job: j, ID: j.ID, Owner: j.Owner}
	}
	return s, events, nil
}

// since returns the ring's events after seq that s wants, oldest first.
// f.mu is held.
func (f *Feed) since(seq uint64, s *Subscription) []Event {
	var out []Event
	n := len(f.ring)
	for i := range n {
		ev := f.ring[(f.next-n+i+cap(f.ring))%cap(f.ring)]
		if ev.seq > seq && s.wants(ev) {
			out = append(out, ev)
		}
	}
	return out
}
