package jobfeed_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
	"github.com/mp3converter/mp3converter/jobfeed"
)

// spyJobs is a job store whose ListJobs goes through listJobs.
type spyJobs struct {
	mp3converter.JobStore
	listJobs func(context.Context, mp3converter.JobFilter) ([]*mp3converter.Job, error)
}

func (s spyJobs) ListJobs(ctx context.Context, f mp3converter.JobFilter) ([]*mp3converter.Job, error) {
	return s.listJobs(ctx, f)
}

// newFeed returns a feed on a new SQLite store that counts its queries in
// *queries, polled once so that later changes are news.
func newFeed(t *testing.T, f *jobfeed.Feed) (*jobfeed.Feed, mp3converter.JobStore, *atomic.Int64) {
	t.Helper()
	store := testsupport.SQLite(t).Jobs
	queries := &atomic.Int64{}
	f.Jobs = spyJobs{JobStore: store, listJobs: func(ctx context.Context, f mp3converter.JobFilter) ([]*mp3converter.Job, error) {
		queries.Add(1)
		return store.ListJobs(ctx, f)
	}}
	poll(t, f)
	queries.Store(0)
	return f, store, queries
}

func poll(t *testing.T, f *jobfeed.Feed) {
	t.Helper()
	if err := f.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func create(t *testing.T, s mp3converter.JobStore, owner string) *mp3converter.Job {
	t.Helper()
	j := &mp3converter.Job{ID: mp3converter.NewID(), Owner: owner, VideoFID: mp3converter.NewID()}
	if err := s.CreateJob(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

func setProgress(t *testing.T, s mp3converter.JobStore, id string, p float64) {
	t.Helper()
	time.Sleep(time.Millisecond) // a new updated_at
	if _, err := s.UpdateJob(context.Background(), id, func(j *mp3converter.Job) error {
		j.Status, j.Progress = mp3converter.JobProcessing, p
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func subscribe(t *testing.T, f *jobfeed.Feed, owner, cursor string) (*jobfeed.Subscription, []jobfeed.Event) {
	t.Helper()
	s, backlog, err := f.Subscribe(context.Background(), owner, cursor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, backlog
}

// received returns what s has buffered.
func received(s *jobfeed.Subscription) []jobfeed.Event {
	var out []jobfeed.Event
	for {
		select {
		case ev, ok := <-s.C:
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

// describe shows events as "id:progress", "id:deleted" or "refetch".
func describe(evs []jobfeed.Event) string {
	var out []string
	for _, ev := range evs {
		if ev.Refetch {
			out = append(out, "refetch")
			continue
		}
		if ev.Deleted {
			out = append(out, ev.ID[18:]+":deleted")
			continue
		}
		out = append(out, fmt.Sprintf("%s:%g", ev.ID[18:], ev.Job.Progress))
	}
	return fmt.Sprint(out)
}

// TestReplay: a cursor the ring covers replays exactly the subscriber's
// events after it, in order, from memory.
func TestReplay(t *testing.T) {
	f, store, queries := newFeed(t, &jobfeed.Feed{})
	live, snapshot := subscribe(t, f, "ann@example.com", "")
	if len(snapshot) != 0 {
		t.Fatalf("snapshot of no jobs: %s", describe(snapshot))
	}
	a, b := create(t, store, "ann@example.com"), create(t, store, "bob@example.com")
	poll(t, f)
	first := received(live)
	if describe(first) != describe([]jobfeed.Event{{ID: a.ID, Job: a}}) {
		t.Fatalf("ann's stream got %s, want only her new job", describe(first))
	}
	setProgress(t, store, a.ID, 0.25)
	setProgress(t, store, b.ID, 0.5)
	poll(t, f)
	setProgress(t, store, a.ID, 0.75)
	poll(t, f)
	f.Deleted(a)
	missed := received(live)

	queries.Store(0)
	_, replay := subscribe(t, f, "ann@example.com", first[0].Cursor)
	if describe(replay) != describe(missed) || len(missed) != 3 {
		t.Errorf("replay after the first event = %s, want what the live stream got after it, %s", describe(replay), describe(missed))
	}
	if n := queries.Load(); n != 0 {
		t.Errorf("replay from the ring queried the store %d times", n)
	}
	for i := 1; i < len(replay); i++ {
		if replay[i].Cursor == replay[i-1].Cursor {
			t.Errorf("cursors repeat: %s", replay[i].Cursor)
		}
	}
	// Everyone's stream (an admin's) replays bob's change too.
	if _, all := subscribe(t, f, "", first[0].Cursor); len(all) != 5 {
		t.Errorf("everyone's replay = %s, want 5 events", describe(all))
	}
}

// TestRingOverflow: a cursor older than the ring, or another process's,
// gets the current state of every job changed since its time, from the
// store.
func TestRingOverflow(t *testing.T) {
	f, store, queries := newFeed(t, &jobfeed.Feed{Ring: 4})
	live, _ := subscribe(t, f, "ann@example.com", "")
	a, b := create(t, store, "ann@example.com"), create(t, store, "ann@example.com")
	poll(t, f)
	first := received(live)
	if len(first) != 2 {
		t.Fatalf("got %s, want 2 new jobs", describe(first))
	}
	for i := range 5 {
		setProgress(t, store, a.ID, float64(i+1)/10)
		setProgress(t, store, b.ID, float64(i+1)/10)
		poll(t, f)
	}
	queries.Store(0)
	_, backlog := subscribe(t, f, "ann@example.com", first[1].Cursor)
	want := describe([]jobfeed.Event{{ID: a.ID, Job: &mp3converter.Job{Progress: 0.5}}, {ID: b.ID, Job: &mp3converter.Job{Progress: 0.5}}})
	if describe(backlog) != want {
		t.Errorf("after an overflowed cursor got %s, want the latest state of both jobs %s", describe(backlog), want)
	}
	if n := queries.Load(); n != 1 {
		t.Errorf("fallback made %d queries, want 1", n)
	}
	// A later reconnect from the fallback's cursor replays from the ring.
	setProgress(t, store, a.ID, 0.9)
	poll(t, f)
	if _, replay := subscribe(t, f, "ann@example.com", backlog[0].Cursor); describe(replay) != describe([]jobfeed.Event{{ID: a.ID, Job: &mp3converter.Job{Progress: 0.9}}}) {
		t.Errorf("replay from the fallback's cursor = %s", describe(replay))
	}
	// Another process's recent cursor falls back too.
	foreign := strconv.FormatInt(time.Now().Add(-time.Minute).UnixMicro(), 10) + "-zzzzzzzz-1"
	if _, backlog := subscribe(t, f, "ann@example.com", foreign); len(backlog) != 2 {
		t.Errorf("another process's cursor got %s, want both jobs", describe(backlog))
	}
}

// TestReplayBounds: the store's replay is only for a recent cursor and a
// few jobs; else the subscriber gets one Refetch event, whose cursor then
// replays from the ring. A cursor that does not parse is no cursor.
func TestReplayBounds(t *testing.T) {
	f, store, queries := newFeed(t, &jobfeed.Feed{ReplayWindow: time.Hour})
	for range 3 {
		create(t, store, "ann@example.com")
	}
	poll(t, f)
	foreign := func(ago time.Duration) string {
		return strconv.FormatInt(time.Now().Add(-ago).UnixMicro(), 10) + "-zzzzzzzz-7"
	}
	for _, c := range []struct {
		name, cursor string
		jobs         int // -1: a refetch
		queries      int64
	}{
		{"the first cursor ever", "1-x-0", -1, 0},
		{"a foreign cursor older than the window", foreign(2 * time.Hour), -1, 0},
		{"a foreign cursor from the future", foreign(-time.Hour), -1, 0},
		{"a recent foreign cursor", foreign(time.Minute), 3, 1},
		{"a cursor that does not parse", "x-y", 3, 1},
	} {
		queries.Store(0)
		_, backlog := subscribe(t, f, "ann@example.com", c.cursor)
		got := len(backlog)
		if len(backlog) == 1 && backlog[0].Refetch {
			got = -1
			if backlog[0].Job != nil || backlog[0].Cursor == "" {
				t.Errorf("%s: refetch %+v, want a cursor and no job", c.name, backlog[0])
			}
		}
		if got != c.jobs || queries.Load() != c.queries {
			t.Errorf("%s: %d events (-1: refetch) in %d queries, want %d in %d", c.name, got, queries.Load(), c.jobs, c.queries)
		}
	}

	// More than a replay sends: 150 jobs changed since a recent cursor.
	cursor := foreign(time.Second)
	for range 150 {
		create(t, store, "ann@example.com")
	}
	poll(t, f)
	queries.Store(0)
	live, backlog := subscribe(t, f, "ann@example.com", cursor)
	if describe(backlog) != "[refetch]" || queries.Load() != 1 {
		t.Fatalf("150 jobs changed since a foreign cursor: %d events (%.40s...) in %d queries; want one refetch, 1 query", len(backlog), describe(backlog), queries.Load())
	}
	j := create(t, store, "ann@example.com")
	poll(t, f)
	if got := received(live); len(got) != 1 || got[0].ID != j.ID {
		t.Errorf("after the refetch the stream got %s, want the new job", describe(got))
	}
	// The refetch's cursor is this process's: it replays from the ring.
	queries.Store(0)
	if _, replay := subscribe(t, f, "ann@example.com", backlog[0].Cursor); len(replay) != 1 || replay[0].ID != j.ID || queries.Load() != 0 {
		t.Errorf("replay from the refetch's cursor = %s in %d queries, want the new job from memory", describe(replay), queries.Load())
	}
}

// TestSlowSubscriberDropped: a subscriber that does not read is dropped
// once its buffer is full; the others get every event.
func TestSlowSubscriberDropped(t *testing.T) {
	f, store, _ := newFeed(t, &jobfeed.Feed{Buffer: 2})
	slow, _ := subscribe(t, f, "", "")
	fast, _ := subscribe(t, f, "", "")
	j := create(t, store, "ann@example.com")
	var got []jobfeed.Event
	for i := range 5 {
		setProgress(t, store, j.ID, float64(i+1)/10)
		poll(t, f)
		got = append(got, received(fast)...)
	}
	if len(got) != 5 {
		t.Errorf("the reading subscriber got %s, want 5 events", describe(got))
	}
	n := 0
	for range slow.C { // closed: the loop ends
		n++
	}
	if n != 2 {
		t.Errorf("the slow subscriber had %d events buffered before being dropped, want 2", n)
	}
}

// TestOneQueryPerPoll: the store is queried once per poll, whether one
// subscriber listens or fifty.
func TestOneQueryPerPoll(t *testing.T) {
	for _, subscribers := range []int{1, 50} {
		f, store, queries := newFeed(t, &jobfeed.Feed{})
		subs := make([]*jobfeed.Subscription, subscribers)
		for i := range subs {
			subs[i], _ = subscribe(t, f, "ann@example.com", "")
		}
		j := create(t, store, "ann@example.com")
		queries.Store(0)
		for i := range 10 {
			setProgress(t, store, j.ID, float64(i)/10)
			poll(t, f)
		}
		if n := queries.Load(); n != 10 {
			t.Errorf("%d subscribers: 10 polls made %d queries", subscribers, n)
		}
		for _, s := range subs {
			if got := received(s); len(got) != 10 {
				t.Fatalf("%d subscribers: one got %d events, want 10", subscribers, len(got))
			}
		}
	}
}

// TestRun: the poller delivers a change within a few intervals, and Close
// ends subscriptions and refuses new ones.
func TestRun(t *testing.T) {
	f, store, _ := newFeed(t, &jobfeed.Feed{Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	s, _ := subscribe(t, f, "ann@example.com", "")
	j := create(t, store, "ann@example.com")
	select {
	case ev := <-s.C:
		if ev.ID != j.ID || ev.Job.Status != mp3converter.JobQueued {
			t.Errorf("got %+v", ev)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no event within 2 s")
	}
	f.Close()
	if _, ok := <-s.C; ok {
		t.Error("subscription still open after Close")
	}
	if _, _, err := f.Subscribe(ctx, "ann@example.com", ""); !errors.Is(err, jobfeed.ErrClosed) {
		t.Errorf("Subscribe after Close: %v", err)
	}
}

// TestChanged: a store that tells the feed its writes (sqldb's OnChange,
// as serve wires it) reaches subscribers with no poll at all, once each;
// a write told late, after a newer one or after the job's deletion, is
// not sent.
func TestChanged(t *testing.T) {
	f, _, queries := newFeed(t, &jobfeed.Feed{})
	store := testsupport.SQLite(t).Jobs
	store.OnChange(f.Changed)
	s, _ := subscribe(t, f, "ann@example.com", "")
	queries.Store(0) // the subscription's snapshot

	j := create(t, store, "ann@example.com")
	setProgress(t, store, j.ID, 0.5)
	var stale *mp3converter.Job
	f2 := func(j *mp3converter.Job) { stale = j } // the next write, kept back
	store.OnChange(f2)
	setProgress(t, store, j.ID, 0.7)
	store.OnChange(f.Changed)
	setProgress(t, store, j.ID, 0.9)
	f.Changed(stale) // 0.7, told after 0.9
	if got, want := describe(received(s)), fmt.Sprintf("[%[1]s:0 %[1]s:0.5 %[1]s:0.9]", j.ID[18:]); got != want {
		t.Errorf("events %s, want %s", got, want)
	}
	if n := queries.Load(); n != 0 {
		t.Errorf("%d queries, want none", n)
	}

	f.Deleted(j)
	stale.UpdatedAt = time.Now().Add(time.Second)
	f.Changed(stale) // a write that committed before the deletion, told after it
	if got, want := describe(received(s)), fmt.Sprintf("[%s:deleted]", j.ID[18:]); got != want {
		t.Errorf("after the deletion: %s, want %s", got, want)
	}
}

// TestChangedDuringPoll: a poll that reads more than a page, while this
// process's writes move the feed's newest change on by more than the
// overlap (a poll lagging behind a burst of writes), sends nothing that
// was sent already.
func TestChangedDuringPoll(t *testing.T) {
	store := testsupport.SQLite(t).Jobs
	var jump *mp3converter.Job
	f, _, queries := newFeed(t, &jobfeed.Feed{})
	f.Jobs = spyJobs{JobStore: store, listJobs: func(ctx context.Context, fl mp3converter.JobFilter) ([]*mp3converter.Job, error) {
		queries.Add(1)
		if jump != nil && queries.Load() == 1 {
			f.Changed(jump) // while the poll reads its first page
		}
		return store.ListJobs(ctx, fl)
	}}
	store.OnChange(f.Changed)
	for range 1200 { // more than a page
		create(t, store, "ann@example.com")
	}
	s, _ := subscribe(t, f, "ann@example.com", "")
	received(s)
	last := create(t, store, "bob@example.com")
	jump = last
	jump.UpdatedAt = time.Now().Add(10 * time.Second)
	queries.Store(0)
	poll(t, f)
	if got := received(s); len(got) != 0 {
		t.Errorf("the poll sent %d of ann's jobs again", len(got))
	}
}
