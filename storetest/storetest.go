// Package storetest is the conformance suite for mp3converter.UserStore and
// mp3converter.JobStore. Each backend's tests call RunUsers and RunJobs with
// constructors of empty stores.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
)

// RunUsers runs the UserStore suite.
func RunUsers(t *testing.T, newStore func(t *testing.T) mp3converter.UserStore) {
	ctx := context.Background()

	t.Run("CreateGet", func(t *testing.T) {
		s := newStore(t)
		u := &mp3converter.User{Email: "ann@example.com", PasswordHash: "$2a$10$hash", Admin: true}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		if u.ID == 0 || u.CreatedAt.IsZero() {
			t.Errorf("CreateUser did not set ID and CreatedAt: %+v", u)
		}
		got, err := s.UserByEmail(ctx, "ann@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != u.ID || got.Email != u.Email || got.PasswordHash != u.PasswordHash || !got.Admin {
			t.Errorf("got %+v, want %+v", got, u)
		}
		if d := got.CreatedAt.Sub(u.CreatedAt); d < -time.Millisecond || d > time.Millisecond {
			t.Errorf("CreatedAt %v, want %v", got.CreatedAt, u.CreatedAt)
		}
		if _, err := s.UserByEmail(ctx, "bob@example.com"); !errors.Is(err, mp3converter.ErrNotFound) {
			t.Errorf("missing user: %v, want ErrNotFound", err)
		}
	})

	t.Run("Conflict", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateUser(ctx, &mp3converter.User{Email: "ann@example.com", PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
		err := s.CreateUser(ctx, &mp3converter.User{Email: "ann@example.com", PasswordHash: "y"})
		if !errors.Is(err, mp3converter.ErrConflict) {
			t.Errorf("duplicate email: %v, want ErrConflict", err)
		}
	})

	t.Run("ListSetDelete", func(t *testing.T) {
		s := newStore(t)
		for _, e := range []string{"cat@example.com", "ann@example.com", "bob@example.com"} {
			if err := s.CreateUser(ctx, &mp3converter.User{Email: e, PasswordHash: "h-" + e}); err != nil {
				t.Fatal(err)
			}
		}
		users, err := s.ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(users) != 3 || users[0].Email != "ann@example.com" || users[2].Email != "cat@example.com" {
			t.Errorf("ListUsers = %v, want 3 ordered by email", emails(users))
		}
		if err := s.SetPasswordHash(ctx, "bob@example.com", "new"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetPasswordHash(ctx, "bob@example.com", "new"); err != nil {
			t.Errorf("setting the same hash again: %v", err)
		}
		if u, _ := s.UserByEmail(ctx, "bob@example.com"); u == nil || u.PasswordHash != "new" {
			t.Errorf("SetPasswordHash did not stick: %+v", u)
		}
		if err := s.SetPasswordHash(ctx, "nobody@example.com", "x"); !errors.Is(err, mp3converter.ErrNotFound) {
			t.Errorf("SetPasswordHash of missing user: %v", err)
		}
		if err := s.DeleteUser(ctx, "bob@example.com"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(ctx, "bob@example.com"); !errors.Is(err, mp3converter.ErrNotFound) {
			t.Errorf("second delete: %v, want ErrNotFound", err)
		}
		if _, err := s.UserByEmail(ctx, "bob@example.com"); !errors.Is(err, mp3converter.ErrNotFound) {
			t.Errorf("deleted user still found: %v", err)
		}
		if users, _ := s.ListUsers(ctx); len(users) != 2 {
			t.Errorf("after delete ListUsers = %v", emails(users))
		}
	})

	t.Run("RevokeTokens", func(t *testing.T) { testRevokeTokens(t, newStore(t)) })
}

// testRevokeTokens checks the token version: RevokeTokens and SetPassword
// raise it, for that user only; SetPasswordHash (a re-hash) leaves it.
func testRevokeTokens(t *testing.T, s mp3converter.UserStore) {
	ctx := context.Background()
	for _, e := range []string{"ann@example.com", "bob@example.com"} {
		if err := s.CreateUser(ctx, &mp3converter.User{Email: e, PasswordHash: "old"}); err != nil {
			t.Fatal(err)
		}
	}
	version := func(email string) int64 {
		t.Helper()
		u, err := s.UserByEmail(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		return u.TokenVersion
	}
	if v := version("ann@example.com"); v != 0 {
		t.Errorf("a new user's TokenVersion is %d, want 0", v)
	}
	if err := s.RevokeTokens(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if v := version("ann@example.com"); v != 1 {
		t.Errorf("after RevokeTokens TokenVersion is %d, want 1", v)
	}
	if err := s.RevokeTokens(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if v := version("ann@example.com"); v != 2 {
		t.Errorf("after a second RevokeTokens TokenVersion is %d, want 2", v)
	}

	if err := s.SetPasswordHash(ctx, "ann@example.com", "rehashed"); err != nil {
		t.Fatal(err)
	}
	if v := version("ann@example.com"); v != 2 {
		t.Errorf("SetPasswordHash changed TokenVersion to %d, want it left at 2", v)
	}
	// The same hash twice still revokes: the version moves either way.
	for want := int64(3); want <= 4; want++ {
		if err := s.SetPassword(ctx, "ann@example.com", "new"); err != nil {
			t.Fatal(err)
		}
		u, err := s.UserByEmail(ctx, "ann@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if u.PasswordHash != "new" || u.TokenVersion != want {
			t.Errorf("after SetPassword: hash %q, TokenVersion %d; want \"new\", %d", u.PasswordHash, u.TokenVersion, want)
		}
	}
	if users, err := s.ListUsers(ctx); err != nil || len(users) != 2 || users[0].TokenVersion != 4 {
		t.Errorf("ListUsers = %+v, %v; want ann's TokenVersion 4", users, err)
	}
	if u, _ := s.UserByEmail(ctx, "bob@example.com"); u == nil || u.TokenVersion != 0 || u.PasswordHash != "old" {
		t.Errorf("another user was changed: %+v", u)
	}

	if err := s.RevokeTokens(ctx, "nobody@example.com"); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("RevokeTokens of a missing user: %v, want ErrNotFound", err)
	}
	if err := s.SetPassword(ctx, "nobody@example.com", "x"); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("SetPassword of a missing user: %v, want ErrNotFound", err)
	}
}

func emails(us []*mp3converter.User) []string {
	var out []string
	for _, u := range us {
		out = append(out, u.Email)
	}
	return out
}

// RunJobs runs the JobStore suite.
func RunJobs(t *testing.T, newStore func(t *testing.T) mp3converter.JobStore) {
	t.Run("CreateGet", func(t *testing.T) { testJobCreateGet(t, newStore(t)) })
	t.Run("Update", func(t *testing.T) { testJobUpdate(t, newStore(t)) })
	t.Run("UpdateIsAtomic", func(t *testing.T) { testJobUpdateIsAtomic(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testJobList(t, newStore(t)) })
	t.Run("UpdatedAfter", func(t *testing.T) { testJobUpdatedAfter(t, newStore(t)) })
	t.Run("PagesAndNames", func(t *testing.T) { testJobPagesAndNames(t, newStore(t)) })
	t.Run("Delete", func(t *testing.T) { testJobDelete(t, newStore(t)) })
	t.Run("Stats", func(t *testing.T) { testJobStats(t, newStore(t)) })
	t.Run("CountByOwner", func(t *testing.T) { testCountJobs(t, newStore(t)) })
}

// newJob returns a new, not yet stored job of owner.
func newJob(owner string) *mp3converter.Job {
	return &mp3converter.Job{ID: mp3converter.NewID(), Owner: owner, Filename: "clip \"one\".mkv",
		VideoFID: mp3converter.NewID(), Size: 12345}
}

func testJobCreateGet(t *testing.T, s mp3converter.JobStore) {
	ctx, j := createJob(t, s)
	if j.Status != mp3converter.JobQueued || j.CreatedAt.IsZero() || j.UpdatedAt.IsZero() {
		t.Errorf("CreateJob did not default status and times: %+v", j)
	}
	got, err := s.Job(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != j.Owner || got.Filename != j.Filename || got.VideoFID != j.VideoFID ||
		got.Size != j.Size || got.Status != mp3converter.JobQueued || got.MP3FID != "" || got.NotifiedAt != nil {
		t.Errorf("got %+v, want %+v", got, j)
	}
	if err := s.CreateJob(ctx, &mp3converter.Job{ID: j.ID, Owner: "x", VideoFID: j.VideoFID}); !errors.Is(err, mp3converter.ErrConflict) {
		t.Errorf("duplicate id: %v, want ErrConflict", err)
	}
	if _, err := s.Job(ctx, mp3converter.NewID()); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("missing job: %v, want ErrNotFound", err)
	}
}

// jobOptions set every option, to check that a store keeps them all.
var jobOptions = mp3converter.Options{Quality: "V0", Bitrate: 0, Channels: 1, SampleRate: 22050,
	Start: 1.5, End: 3.25, Normalize: true, Title: "Ünïcode \"title\""}

// createJob stores a new job of ann's.
func createJob(t *testing.T, s mp3converter.JobStore) (context.Context, *mp3converter.Job) {
	t.Helper()
	ctx := context.Background()
	j := newJob("ann@example.com")
	if err := s.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	return ctx, j
}

func testJobUpdate(t *testing.T, s mp3converter.JobStore) {
	ctx, j := createJob(t, s)
	mp3 := mp3converter.NewID()
	now := time.Now().UTC().Truncate(time.Microsecond)
	before := j.UpdatedAt
	time.Sleep(2 * time.Millisecond)
	got, err := s.UpdateJob(ctx, j.ID, func(j *mp3converter.Job) error {
		j.Status, j.MP3FID, j.Attempts, j.Progress = mp3converter.JobDone, mp3, 2, 1
		j.Duration, j.MP3Size, j.Copied, j.Error, j.NotifiedAt = 3.5, 999, true, "", &now
		j.Options = jobOptions
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !got.UpdatedAt.After(before) {
		t.Errorf("UpdatedAt not advanced: %v -> %v", before, got.UpdatedAt)
	}
	stored, err := s.Job(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != mp3converter.JobDone || stored.MP3FID != mp3 || stored.Attempts != 2 || stored.Progress != 1 ||
		stored.Duration != 3.5 || stored.MP3Size != 999 || !stored.Copied || stored.NotifiedAt == nil || !stored.NotifiedAt.Equal(now) ||
		stored.Options != jobOptions {
		t.Errorf("stored %+v", stored)
	}
	byMP3, err := s.JobByMP3(ctx, mp3)
	if err != nil || byMP3.ID != j.ID {
		t.Errorf("JobByMP3 = %v, %v", byMP3, err)
	}
	if _, err := s.JobByMP3(ctx, mp3converter.NewID()); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("JobByMP3 missing: %v", err)
	}

	// An error from fn saves nothing and is returned as is.
	veto := errors.New("veto")
	if _, err := s.UpdateJob(ctx, j.ID, func(j *mp3converter.Job) error { j.Status = mp3converter.JobFailed; return veto }); !errors.Is(err, veto) {
		t.Errorf("fn error: %v, want veto", err)
	}
	if stored, _ := s.Job(ctx, j.ID); stored.Status != mp3converter.JobDone {
		t.Errorf("vetoed update was saved: %s", stored.Status)
	}
	if _, err := s.UpdateJob(ctx, mp3converter.NewID(), func(*mp3converter.Job) error { return nil }); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("update missing: %v, want ErrNotFound", err)
	}
	// Two jobs cannot share an MP3.
	other := newJob("ann@example.com")
	s.CreateJob(ctx, other)
	if _, err := s.UpdateJob(ctx, other.ID, func(j *mp3converter.Job) error { j.MP3FID = mp3; return nil }); !errors.Is(err, mp3converter.ErrConflict) {
		t.Errorf("shared mp3_fid: %v, want ErrConflict", err)
	}
}

func testJobUpdateIsAtomic(t *testing.T, s mp3converter.JobStore) {
	ctx, j := createJob(t, s)
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.UpdateJob(ctx, j.ID, func(j *mp3converter.Job) error { j.Attempts++; return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got, _ := s.Job(ctx, j.ID); got.Attempts != 10 {
		t.Errorf("10 concurrent increments gave %d: updates were lost", got.Attempts)
	}
}

func testJobList(t *testing.T, s mp3converter.JobStore) {
	ctx := context.Background()
	var ann []string
	for i := range 5 {
		owner := "ann@example.com"
		if i%2 == 1 {
			owner = "bob@example.com"
		}
		j := newJob(owner)
		j.Filename = fmt.Sprint(i)
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		if owner == "ann@example.com" {
			ann = append([]string{j.ID}, ann...)
		}
		time.Sleep(2 * time.Millisecond)
	}
	jobs, err := s.ListJobs(ctx, mp3converter.JobFilter{Owner: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(jobs); fmt.Sprint(got) != fmt.Sprint(ann) {
		t.Errorf("ann's jobs newest first = %v, want %v", got, ann)
	}
	if others, _ := s.ListJobs(ctx, mp3converter.JobFilter{NotOwner: "ann@example.com"}); len(others) != 2 || others[0].Owner != "bob@example.com" || others[1].Owner != "bob@example.com" {
		t.Errorf("jobs not ann's: %v, want bob's 2", ids(others))
	}
	if all, _ := s.ListJobs(ctx, mp3converter.JobFilter{}); len(all) != 5 {
		t.Errorf("all jobs: %d, want 5", len(all))
	}
	if lim, _ := s.ListJobs(ctx, mp3converter.JobFilter{Limit: 2}); len(lim) != 2 || lim[0].Filename != "4" {
		t.Errorf("limit 2: %v", ids(lim))
	}
	s.UpdateJob(ctx, ann[0], func(j *mp3converter.Job) error { j.Status = mp3converter.JobFailed; return nil })
	if failed, _ := s.ListJobs(ctx, mp3converter.JobFilter{Status: mp3converter.JobFailed}); len(failed) != 1 || failed[0].ID != ann[0] {
		t.Errorf("status filter: %v", ids(failed))
	}
	cut := time.Now().Add(time.Hour)
	if old, _ := s.ListJobs(ctx, mp3converter.JobFilter{UpdatedBefore: cut}); len(old) != 5 {
		t.Errorf("updated before an hour from now: %d, want 5", len(old))
	}
	if old, _ := s.ListJobs(ctx, mp3converter.JobFilter{UpdatedBefore: time.Now().Add(-time.Hour)}); len(old) != 0 {
		t.Errorf("updated before an hour ago: %d, want 0", len(old))
	}
}

// testJobPagesAndNames: paging by cursor visits every job once, newest
// first, ties in CreatedAt broken by ID; a name filter matches a substring
// in any case and takes LIKE's wildcards and its escape literally.
func testJobPagesAndNames(t *testing.T, s mp3converter.JobStore) {
	ctx := context.Background()
	at := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	names := []string{"Holiday.mp4", "talk 100%.webm", "a_b.mkv", "ab.mkv", "HOLIDAY 2.mov", "x!y.avi", "talk.mp4"}
	for i, name := range names {
		j := newJob("ann@example.com")
		j.Filename = name
		j.CreatedAt = at.Add(time.Duration(i/2) * time.Second) // pairs share a CreatedAt
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	bob := newJob("bob@example.com")
	bob.Filename = "holiday bob.mp4"
	if err := s.CreateJob(ctx, bob); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListJobs(ctx, mp3converter.JobFilter{Owner: "ann@example.com"})
	if err != nil || len(all) != len(names) {
		t.Fatalf("ann's jobs: %d, %v", len(all), err)
	}
	var paged []string
	f := mp3converter.JobFilter{Owner: "ann@example.com", Limit: 2}
	for range len(names) {
		page, err := s.ListJobs(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		paged = append(paged, ids(page)...)
		last := page[len(page)-1]
		f.Before = mp3converter.JobCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	if fmt.Sprint(paged) != fmt.Sprint(ids(all)) {
		t.Errorf("pages of 2 = %v, want every job once as in one list %v", paged, ids(all))
	}
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.CreatedAt.Before(b.CreatedAt) || a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID {
			t.Errorf("not newest first, ties by id descending: %s %v before %s %v", a.ID, a.CreatedAt, b.ID, b.CreatedAt)
		}
	}
	for _, tt := range []struct {
		q    string
		want []string
	}{
		{"holiday", []string{"HOLIDAY 2.mov", "Holiday.mp4"}},
		{"TALK", []string{"talk.mp4", "talk 100%.webm"}},
		{"%", []string{"talk 100%.webm"}},
		{"_", []string{"a_b.mkv"}},
		{"a_b", []string{"a_b.mkv"}},
		{"!", []string{"x!y.avi"}},
		{"x!y", []string{"x!y.avi"}},
		{"nothing", nil},
	} {
		got, err := s.ListJobs(ctx, mp3converter.JobFilter{Owner: "ann@example.com", NameContains: tt.q})
		var gotNames []string
		for _, j := range got {
			gotNames = append(gotNames, j.Filename)
		}
		if err != nil || fmt.Sprint(gotNames) != fmt.Sprint(tt.want) {
			t.Errorf("name contains %q: %q, %v; want %q", tt.q, gotNames, err, tt.want)
		}
	}
	page, err := s.ListJobs(ctx, mp3converter.JobFilter{Owner: "ann@example.com", NameContains: "holiday", Limit: 1})
	if err == nil && len(page) == 1 {
		page, err = s.ListJobs(ctx, mp3converter.JobFilter{Owner: "ann@example.com", NameContains: "holiday",
			Before: mp3converter.JobCursor{CreatedAt: page[0].CreatedAt, ID: page[0].ID}})
	}
	if err != nil || len(page) != 1 || page[0].Filename != "Holiday.mp4" {
		t.Errorf("the second page of the name filter: %v, %v; want Holiday.mp4", ids(page), err)
	}
}

// testJobUpdatedAfter: the query a change feed polls with returns the jobs
// changed since a time, oldest change first.
func testJobUpdatedAfter(t *testing.T, s mp3converter.JobStore) {
	ctx := context.Background()
	var jobs []*mp3converter.Job
	for _, owner := range []string{"ann@example.com", "bob@example.com", "ann@example.com"} {
		j := newJob(owner)
		if err := s.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
	}
	time.Sleep(2 * time.Millisecond)
	cut := time.Now()
	time.Sleep(2 * time.Millisecond)
	for _, i := range []int{2, 1, 0} { // newest created, changed first
		if _, err := s.UpdateJob(ctx, jobs[i].ID, func(j *mp3converter.Job) error { j.Progress = 0.5; return nil }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	want := []string{jobs[2].ID, jobs[1].ID, jobs[0].ID}
	if got, err := s.ListJobs(ctx, mp3converter.JobFilter{UpdatedAfter: cut}); err != nil || fmt.Sprint(ids(got)) != fmt.Sprint(want) {
		t.Errorf("changed after the cut, oldest change first = %v, %v; want %v", ids(got), err, want)
	}
	if got, _ := s.ListJobs(ctx, mp3converter.JobFilter{UpdatedAfter: cut, Owner: "ann@example.com", Limit: 1}); fmt.Sprint(ids(got)) != fmt.Sprint(want[:1]) {
		t.Errorf("ann's first change after the cut = %v, want %v", ids(got), want[:1])
	}
	if got, _ := s.ListJobs(ctx, mp3converter.JobFilter{UpdatedAfter: time.Now().Add(time.Hour)}); len(got) != 0 {
		t.Errorf("changed after an hour from now: %v", ids(got))
	}
}

func testJobDelete(t *testing.T, s mp3converter.JobStore) {
	ctx := context.Background()
	j := newJob("ann@example.com")
	s.CreateJob(ctx, j)
	if err := s.DeleteJob(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Job(ctx, j.ID); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("deleted job found: %v", err)
	}
	if err := s.DeleteJob(ctx, j.ID); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	// A store that remembers deletions tells them once each, by owner.
	if d, ok := s.(mp3converter.JobDeletions); ok {
		got, err := d.DeletedSince(ctx, time.Now().Add(-time.Minute), 10)
		if err != nil || len(got) != 1 || got[0].ID != j.ID || got[0].Owner != "ann@example.com" {
			t.Errorf("DeletedSince: %+v, %v; want the one deletion of ann's job", got, err)
		}
		if got, _ := d.DeletedSince(ctx, time.Now().Add(time.Second), 10); len(got) != 0 {
			t.Errorf("DeletedSince the future: %+v", got)
		}
	}
}
