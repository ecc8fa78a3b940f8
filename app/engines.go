package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/conversion"
	"github.com/mp3converter/mp3converter/httpapi"
	"github.com/mp3converter/mp3converter/internal/cmdflag"
	"github.com/mp3converter/mp3converter/internal/diskspace"
	"github.com/mp3converter/mp3converter/sqlite"
)

// Engines are the stores and the queue a process runs on, opened once and
// shared by its roles: each chosen by the scheme of its URL setting (see
// the table in engine.go). A store a process's roles do not need is nil.
type Engines struct {
	Users  mp3converter.UserStore
	Jobs   mp3converter.JobStore
	Videos mp3converter.BlobStore
	MP3s   mp3converter.BlobStore
	Queue  mp3converter.Queue
	// Webhooks are the users' webhooks and the outbox of their deliveries.
	Webhooks mp3converter.WebhookStore
	// Limits are the counts of login throttles and of uploads and streams
	// in progress, in the database: every gateway and auth shares them.
	Limits mp3converter.Limits

	checks  []httpapi.Check // readiness of each engine
	closers []func()        // in opening order
	// background is what the engines run while the process does (the
	// renewal of this process's leases).
	background []func(context.Context)
	// sqlite is the SQLite database, which goqite keeps its queue in.
	sqlite *sqlite.DB
	// scratch makes the directory where this process's conversions write.
	scratch func() (string, error)
	// uploads is where the gateway keeps resumable uploads' parts.
	uploads string
	// recover, on a queue only this process consumes (goqite), puts back
	// the work of a process that died holding it; shared queues recover
	// by themselves.
	recover func(context.Context) (int64, error)
	// space, on storage on the local disk, fails while its disk is below
	// --min-free-space; the gateway refuses uploads then.
	space func(context.Context) error
}

func (e *Engines) onClose(f func()) { e.closers = append(e.closers, f) }

func (e *Engines) check(name string, f func(context.Context) error) {
	e.checks = append(e.checks, httpapi.Check{Name: name, Check: f})
}

// Close closes what was opened, last first.
func (e *Engines) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

func policy(c *Config) mp3converter.RetryPolicy {
	p := mp3converter.DefaultRetryPolicy
	if c.MaxAttempts > 0 {
		p.MaxAttempts = c.MaxAttempts
	}
	return p
}

// openEngines opens what process p's roles need: the database always,
// the queue for the roles that publish or consume, the media storage for
// those that read or write media. A process that runs alone first locks
// its data dir, so that two never share one.
func openEngines(ctx context.Context, p Process, c *Config, log *slog.Logger) (*Engines, error) {
	e := &Engines{}
	o := opening{c: c, p: p, log: log}
	// A process alone defaults to its data dir's engines.
	def := func(url, local string) string {
		if p.Shape == Standalone {
			return cmpOr(url, local)
		}
		return url
	}
	err := e.prepare(o)
	if err == nil {
		err = e.open(ctx, databaseURL, def(c.DatabaseURL, defaultDatabase), o)
	}
	if err == nil && p.Roles.Has(withQueue) {
		err = e.open(ctx, queueURL, def(c.QueueURL, defaultQueue), o)
	}
	if err == nil && p.Roles.Has(Gateway|Converter|Notification) {
		err = e.open(ctx, storageURL, def(c.StorageURL, defaultStorage), o)
	}
	if err == nil && p.Roles.Has(Converter) && e.space == nil {
		// Scratch space, where the storage is not the local disk.
		dir := c.TempDir
		if p.Shape == Standalone {
			dir = c.DataDir
		}
		e.check("free-space", diskspace.Floor(dir, int64(c.MinFreeSpace)))
	}
	if err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// prepare readies what the process keeps outside its engines: for a
// process alone, its data dir (locked) and the scratch dir in it; for one
// role of a split deployment, a scratch dir of its own in --temp-dir,
// which converters may share.
func (e *Engines) prepare(o opening) error {
	c := o.c
	if o.p.Shape != Standalone {
		e.scratch = func() (string, error) { return conversion.ScratchDir(c.TempDir) }
		e.uploads = filepath.Join(c.TempDir, "mp3converter-uploads")
		return nil
	}
	// Resumable uploads' parts outlive a restart: not in tmp.
	e.uploads = filepath.Join(c.DataDir, "uploads")
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	lock, err := lockDir(c.DataDir)
	if err != nil {
		return err
	}
	e.onClose(func() { lock.Close() })
	e.scratch = func() (string, error) {
		// Scratch files of a run that died are ours to remove: we hold the lock.
		dir := filepath.Join(c.DataDir, "tmp")
		os.RemoveAll(dir)
		return dir, os.MkdirAll(dir, 0o750)
	}
	return nil
}

// open opens the engine that rawURL names for setting, by its scheme.
func (e *Engines) open(ctx context.Context, setting, rawURL string, o opening) error {
	en, err := engineFor(setting, rawURL)
	if err != nil {
		return cmdflag.Usagef("bad setting: %s: %w", envOf(setting), err)
	}
	o.url = rawURL
	return en.open(ctx, e, o)
}

// accounts are what the user commands work on: users, and the jobs and
// files that go with an account when it is deleted.
type accounts struct {
	users        mp3converter.UserStore
	jobs         mp3converter.JobStore
	videos, mp3s mp3converter.BlobStore // nil when no storage is named
	close        func()
}

// openAccounts opens them for the operator commands: the database of
// --database-url (serve's SQLite by default), and the media storage of
// --storage-url, or, beside serve's database, serve's files. It does not
// take the data dir's lock, so that it works beside a running serve.
func openAccounts(ctx context.Context, c *Config) (*accounts, error) {
	e := &Engines{}
	o := opening{c: c, p: Process{Name: "user", Shape: Split}}
	dbURL := cmpOr(c.DatabaseURL, defaultDatabase)
	err := e.open(ctx, databaseURL, dbURL, o)
	storage := c.StorageURL
	if storage == "" && dbURL == defaultDatabase {
		storage = defaultStorage
	}
	if err == nil && storage != "" {
		err = e.open(ctx, storageURL, storage, o)
	}
	if err != nil {
		e.Close()
		return nil, err
	}
	return &accounts{users: e.Users, jobs: e.Jobs, videos: e.Videos, mp3s: e.MP3s, close: e.Close}, nil
}

// openDeadLetters opens the dead letters of the operator commands: those
// of --queue-url's queue, serve's by default.
func openDeadLetters(ctx context.Context, c *Config) (mp3converter.DeadLetterStore, func(), error) {
	e := &Engines{}
	o := opening{c: c, p: Process{Name: "dead-letters", Shape: Split}}
	q := cmpOr(c.QueueURL, defaultQueue)
	var err error
	if en, _ := engineFor(queueURL, q); en.needsSQLite {
		err = e.open(ctx, databaseURL, cmpOr(c.DatabaseURL, defaultDatabase), o)
	}
	if err == nil {
		err = e.open(ctx, queueURL, q, o)
	}
	if err != nil {
		e.Close()
		return nil, nil, err
	}
	dl, ok := e.Queue.(mp3converter.DeadLetterStore)
	if !ok {
		e.Close()
		return nil, nil, cmdflag.Usagef("the queue of %s keeps no dead letters", envOf(queueURL))
	}
	return dl, e.Close, nil
}

func cmpOr(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// lockDir takes an exclusive lock on the data dir, so that two servers
// never share one.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another mp3converter", dir)
	}
	return f, nil
}
