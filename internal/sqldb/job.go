package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/mp3converter/mp3converter"
)

// JobStore keeps jobs in the table `job`.
type JobStore struct {
	DB      *sql.DB
	Dialect Dialect

	changed func(*mp3converter.Job)
}

// OnChange has fn called with a copy of each job this store creates or
// updates, once committed, so that a feed in this process can tell its
// subscribers at once rather than at its next poll. Call it before the
// store is used.
func (s *JobStore) OnChange(fn func(*mp3converter.Job)) { s.changed = fn }

// tell calls the OnChange function with a copy of j, which the caller
// keeps.
func (s *JobStore) tell(j *mp3converter.Job) {
	if s.changed != nil {
		c := *j
		s.changed(&c)
	}
}

var _ mp3converter.JobStore = (*JobStore)(nil)

const jobColumns = `id, owner, status, filename, video_fid, mp3_fid, error, attempts, progress,
	duration, size, mp3_size, copied, created_at, updated_at, notified_at, options`

// jobValues returns j's columns in jobColumns order.
func jobValues(j *mp3converter.Job) []any {
	var mp3 sql.NullString
	if j.MP3FID != "" {
		mp3 = sql.NullString{String: j.MP3FID, Valid: true}
	}
	var notified sql.NullInt64
	if j.NotifiedAt != nil {
		notified = sql.NullInt64{Int64: micros(*j.NotifiedAt), Valid: true}
	}
	var options sql.NullString // NULL: the defaults
	if j.Options != (mp3converter.Options{}) {
		b, _ := json.Marshal(j.Options) // a struct of plain fields always marshals
		options = sql.NullString{String: string(b), Valid: true}
	}
	return []any{j.ID, j.Owner, string(j.Status), j.Filename, j.VideoFID, mp3, j.Error, j.Attempts, j.Progress,
		j.Duration, j.Size, j.MP3Size, j.Copied, micros(j.CreatedAt), micros(j.UpdatedAt), notified, options}
}

func scanJob(row interface{ Scan(...any) error }) (*mp3converter.Job, error) {
	var j mp3converter.Job
	var status string
	var mp3 sql.NullString
	var created, updated int64
	var notified sql.NullInt64
	var options sql.NullString
	if err := row.Scan(&j.ID, &j.Owner, &status, &j.Filename, &j.VideoFID, &mp3, &j.Error, &j.Attempts, &j.Progress,
		&j.Duration, &j.Size, &j.MP3Size, &j.Copied, &created, &updated, &notified, &options); err != nil {
		return nil, err
	}
	// NULL: a row from before the options, or written by the seed's gateway.
	if options.String != "" {
		if err := json.Unmarshal([]byte(options.String), &j.Options); err != nil {
			return nil, fmt.Errorf("job %s: options: %w", j.ID, err)
		}
	}
	j.Status = mp3converter.JobStatus(status)
	j.MP3FID = mp3.String
	j.CreatedAt, j.UpdatedAt = fromMicros(created), fromMicros(updated)
	if notified.Valid {
		t := fromMicros(notified.Int64)
		j.NotifiedAt = &t
	}
	return &j, nil
}

// CreateJob implements mp3converter.JobStore.
func (s *JobStore) CreateJob(ctx context.Context, j *mp3converter.Job) error {
	now := time.Now().UTC()
	if j.CreatedAt.IsZero() {
		j.CreatedAt = now
	}
	j.UpdatedAt = now
	if j.Status == "" {
		j.Status = mp3converter.JobQueued
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO job (`+jobColumns+`) VALUES (`+placeholders(17)+`)`, jobValues(j)...)
	if err != nil {
		if s.Dialect.IsDuplicate(err) {
			return fmt.Errorf("create job %s: %w", j.ID, mp3converter.ErrConflict)
		}
		return unavailable("create job", err)
	}
	s.tell(j)
	return nil
}

func (s *JobStore) jobWhere(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, where, suffix, arg string) (*mp3converter.Job, error) {
	return queryOne(ctx, q, "job "+arg, scanJob, `SELECT `+jobColumns+` FROM job WHERE `+where+` `+suffix, arg)
}

// Job implements mp3converter.JobStore.
func (s *JobStore) Job(ctx context.Context, id string) (*mp3converter.Job, error) {
	return s.jobWhere(ctx, s.DB, "id = ?", "", id)
}

// JobByMP3 implements mp3converter.JobStore.
func (s *JobStore) JobByMP3(ctx context.Context, fid string) (*mp3converter.Job, error) {
	return s.jobWhere(ctx, s.DB, "mp3_fid = ?", "", fid)
}

// ListJobs implements mp3converter.JobStore. A name filter is a LIKE with
// its wildcards escaped, on the lower-cased filename: SQLite's LOWER and
// LIKE fold ASCII letters only, MySQL's every letter its collation knows.
func (s *JobStore) ListJobs(ctx context.Context, f mp3converter.JobFilter) ([]*mp3converter.Job, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where, args = append(where, cond), append(args, a...) }
	if f.Owner != "" {
		add("owner = ?", f.Owner)
	}
	if f.NotOwner != "" {
		add("owner <> ?", f.NotOwner)
	}
	if f.Status != "" {
		add("status = ?", string(f.Status))
	}
	if !f.UpdatedBefore.IsZero() {
		add("updated_at < ?", micros(f.UpdatedBefore))
	}
	if f.Before.ID != "" {
		at := micros(f.Before.CreatedAt)
		add("(created_at < ? OR created_at = ? AND id < ?)", at, at, f.Before.ID)
	}
	if f.NameContains != "" {
		add(`LOWER(filename) LIKE ? ESCAPE '!'`, "%"+likeEscaper.Replace(strings.ToLower(f.NameContains))+"%")
	}
	order := ` ORDER BY created_at DESC, id DESC`
	if !f.UpdatedAfter.IsZero() {
		add("updated_at > ?", micros(f.UpdatedAfter))
		order = ` ORDER BY updated_at, id`
	}
	q := `SELECT ` + jobColumns + ` FROM job`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += order
	if f.Limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, f.Limit)
	}
	return queryAll(ctx, s.DB, "list jobs", scanJob, q, args...)
}

// likeEscaper escapes LIKE's wildcards and its escape character, '!',
// which needs no backslash in either SQL dialect's string syntax.
var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// UpdateJob implements mp3converter.JobStore.
func (s *JobStore) UpdateJob(ctx context.Context, id string, fn func(*mp3converter.Job) error) (*mp3converter.Job, error) {
	var out *mp3converter.Job
	err := InTx(ctx, s.DB, func(tx *sql.Tx) error {
		j, err := s.jobWhere(ctx, tx, "id = ?", s.Dialect.ForUpdate, id)
		if err != nil {
			return err
		}
		if err := fn(j); err != nil {
			return err
		}
		j.ID = id
		j.UpdatedAt = time.Now().UTC()
		vals := jobValues(j)
		_, err = tx.ExecContext(ctx, `UPDATE job SET owner = ?, status = ?, filename = ?, video_fid = ?, mp3_fid = ?,
			error = ?, attempts = ?, progress = ?, duration = ?, size = ?, mp3_size = ?, copied = ?, created_at = ?,
			updated_at = ?, notified_at = ?, options = ? WHERE id = ?`, append(vals[1:], id)...)
		if err != nil {
			if s.Dialect.IsDuplicate(err) {
				return fmt.Errorf("update job %s: %w", id, mp3converter.ErrConflict)
			}
			return unavailable("update job", err)
		}
		out = j
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.tell(out)
	return out, nil
}

// DeleteJob implements mp3converter.JobStore.
// DeleteJob implements mp3converter.JobStore, and keeps the deletion for
// DeletedSince, forgetting those older than mp3converter.DeletionsKept.
func (s *JobStore) DeleteJob(ctx context.Context, id string) error {
	return InTx(ctx, s.DB, func(tx *sql.Tx) error {
		now := time.Now()
		_, err := tx.ExecContext(ctx, `INSERT INTO job_deleted (id, owner, deleted_at) SELECT id, owner, ? FROM job WHERE id = ?`, micros(now), id)
		if err != nil {
			return unavailable("delete job "+id, err)
		}
		if err := deleteOne(ctx, tx, "job "+id, `DELETE FROM job WHERE id = ?`, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM job_deleted WHERE deleted_at < ?`, micros(now.Add(-mp3converter.DeletionsKept)))
		return unavailable("delete job "+id, err)
	})
}

var _ mp3converter.JobDeletions = (*JobStore)(nil)

// DeletedSince implements mp3converter.JobDeletions.
func (s *JobStore) DeletedSince(ctx context.Context, since time.Time, limit int) ([]mp3converter.Deletion, error) {
	return queryAll(ctx, s.DB, "deleted jobs", func(row interface{ Scan(...any) error }) (mp3converter.Deletion, error) {
		var d mp3converter.Deletion
		var at int64
		err := row.Scan(&d.ID, &d.Owner, &at)
		d.At = fromMicros(at)
		return d, err
	}, `SELECT id, owner, deleted_at FROM job_deleted WHERE deleted_at > ? ORDER BY deleted_at LIMIT ?`, micros(since), limit)
}

var _ mp3converter.JobCounter = (*JobStore)(nil)

// JobStats implements mp3converter.JobCounter in two queries that the index
// on (status, updated_at) answers: the counts read no row, and the oldest
// queued job reads the queued ones only.
func (s *JobStore) JobStats(ctx context.Context) (mp3converter.JobStats, error) {
	st := mp3converter.JobStats{ByStatus: map[mp3converter.JobStatus]int{}}
	rows, err := s.DB.QueryContext(ctx, `SELECT status, COUNT(*) FROM job GROUP BY status`)
	if err != nil {
		return st, unavailable("count jobs", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return st, unavailable("count jobs", err)
		}
		st.ByStatus[mp3converter.JobStatus(status)] = n
	}
	if err := rows.Err(); err != nil {
		return st, unavailable("count jobs", err)
	}
	var oldest sql.NullInt64
	err = s.DB.QueryRowContext(ctx, `SELECT MIN(created_at) FROM job WHERE status = ?`, string(mp3converter.JobQueued)).Scan(&oldest)
	if err != nil {
		return st, unavailable("oldest queued job", err)
	}
	st.OldestQueued = fromMicros(oldest.Int64)
	return st, nil
}

var _ mp3converter.JobOwnerCounter = (*JobStore)(nil)

// CountJobs implements mp3converter.JobOwnerCounter from the index on
// (owner, created_at) alone.
func (s *JobStore) CountJobs(ctx context.Context, owner string) (int, error) {
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM job WHERE owner = ?`, owner).Scan(&n); err != nil {
		return 0, unavailable("count jobs of "+owner, err)
	}
	return n, nil
}
