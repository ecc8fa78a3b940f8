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
	"github.com/mp3converter/mp3converter/goqite"
	"github.com/mp3converter/mp3converter/gridfs"
	"github.com/mp3converter/mp3converter/httpapi"
	"github.com/mp3converter/mp3converter/internal/diskspace"
	"github.com/mp3converter/mp3converter/localfs"
	"github.com/mp3converter/mp3converter/mysql"
	"github.com/mp3converter/mp3converter/rabbitmq"
	"github.com/mp3converter/mp3converter/sqlite"
)

// This file is the one place that chooses backends.

// Engines are the stores and the queue a process runs on, opened once and
// shared by its roles. A store a process's roles do not need is nil.
type Engines struct {
	Users  mp3converter.UserStore
	Jobs   mp3converter.JobStore
	Videos mp3converter.BlobStore
	MP3s   mp3converter.BlobStore
	Queue  mp3converter.Queue
	// Webhooks are the users' webhooks and the outbox of their deliveries.
	Webhooks mp3converter.WebhookStore

	checks  []httpapi.Check // readiness of each engine
	closers []func()        // in opening order
	// scratch makes the directory where this process's conversions write.
	scratch func() (string, error)
	// recover, on an embedded store, puts back the work of a process that
	// died holding it; shared engines recover by themselves.
	recover func(context.Context) (int64, error)
	// space, on an embedded store, fails while its disk is below
	// --min-free-space; the gateway refuses uploads then.
	space func(context.Context) error
}

func (e *Engines) onClose(f func()) { e.closers = append(e.closers, f) }

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

// openEngines opens what process p's roles need, on p's engines.
func openEngines(ctx context.Context, p Process, c *Config, log *slog.Logger) (*Engines, error) {
	e := &Engines{}
	var err error
	switch p.Storage {
	case Embedded:
		err = e.openEmbedded(ctx, c, log)
	case Shared:
		err = e.openShared(ctx, p, c, log)
	default:
		err = fmt.Errorf("process %s: no engines", p.Name)
	}
	if err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// openEmbedded opens everything in the data dir, which it locks so that
// two processes never share one.
func (e *Engines) openEmbedded(ctx context.Context, c *Config, log *slog.Logger) error {
	if err := os.MkdirAll(c.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	lock, err := lockDir(c.DataDir)
	if err != nil {
		return err
	}
	e.onClose(func() { lock.Close() })
	db, err := openSQLite(ctx, c.DataDir)
	if err != nil {
		return err
	}
	e.onClose(func() { db.Close() })
	videos, mp3s, err := openLocalMedia(c.DataDir)
	if err != nil {
		return err
	}
	if err := removePartial(log, videos, mp3s); err != nil {
		return err
	}
	queue := goqite.New(db.DB, goqite.Options{Policy: policy(c), Logger: log})
	e.onClose(func() { queue.Close() })
	e.Users, e.Jobs, e.Videos, e.MP3s, e.Queue = db.Users, db.Jobs, videos, mp3s, queue
	e.Webhooks = db.Webhooks
	e.space = diskspace.Floor(c.DataDir, c.MinFreeSpace)
	e.checks = []httpapi.Check{{Name: "database", Check: db.Ping}, {Name: "videos", Check: videos.Ping}, {Name: "mp3s", Check: mp3s.Ping},
		{Name: "free-space", Check: e.space}}
	e.scratch = func() (string, error) {
		// Scratch files of a run that died are ours to remove: we hold the lock.
		dir := filepath.Join(c.DataDir, "tmp")
		os.RemoveAll(dir)
		return dir, os.MkdirAll(dir, 0o750)
	}
	e.recover = queue.Recover
	return nil
}

// openShared connects to the shared engines that p's roles use.
func (e *Engines) openShared(ctx context.Context, p Process, c *Config, log *slog.Logger) error {
	db, err := mysql.Open(ctx, c.DatabaseURL)
	if err != nil {
		return err
	}
	e.onClose(func() { db.Close() })
	e.Users, e.Jobs, e.Webhooks = db.Users, db.Jobs, db.Webhooks
	e.checks = append(e.checks, httpapi.Check{Name: "database", Check: db.Ping})
	if p.Roles.Has(withQueue) {
		q, err := rabbitmq.New(c.QueueURL, rabbitmq.Options{Policy: policy(c), Logger: log, ConnectionName: "mp3converter-" + p.Name})
		if err != nil {
			return err
		}
		e.onClose(func() { q.Close() })
		e.Queue = q
		e.checks = append(e.checks, httpapi.Check{Name: "queue", Check: q.Ping})
	}
	if p.Roles.Has(Gateway | Converter | Notification) {
		videos, mp3s, disconnect, err := connectGridFS(ctx, c.StorageURL)
		if err != nil {
			return err
		}
		e.onClose(disconnect)
		e.Videos, e.MP3s = videos, mp3s
		e.checks = append(e.checks, httpapi.Check{Name: "storage", Check: videos.Ping})
	}
	if p.Roles.Has(Converter) {
		e.checks = append(e.checks, httpapi.Check{Name: "free-space", Check: diskspace.Floor(c.TempDir, c.MinFreeSpace)})
	}
	// Converters may share the temp dir: each makes its own in it.
	e.scratch = func() (string, error) { return conversion.ScratchDir(c.TempDir) }
	return nil
}

// removePartial removes the partial blobs of a run that died writing them:
// serve holds the data dir's lock, so none is being written.
func removePartial(log *slog.Logger, stores ...*localfs.Store) error {
	for _, s := range stores {
		n, err := s.RemoveTemp()
		if err != nil {
			return err
		}
		if n > 0 {
			log.Info("PartialBlobsRemoved", "files", n)
		}
	}
	return nil
}

// openSQLite opens the embedded database in dataDir, creating the dir.
func openSQLite(ctx context.Context, dataDir string) (*sqlite.DB, error) {
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return sqlite.Open(ctx, filepath.Join(dataDir, "mp3converter.db"))
}

// openLocalMedia opens the videos and mp3s stores of the data dir.
func openLocalMedia(dataDir string) (videos, mp3s *localfs.Store, err error) {
	if videos, err = localfs.Open(filepath.Join(dataDir, "videos")); err != nil {
		return nil, nil, err
	}
	if mp3s, err = localfs.Open(filepath.Join(dataDir, "mp3s")); err != nil {
		return nil, nil, err
	}
	return videos, mp3s, nil
}

// connectGridFS connects to MongoDB and returns its videos and mp3s stores
// and the function that disconnects.
func connectGridFS(ctx context.Context, url string) (videos, mp3s *gridfs.Store, disconnect func(), err error) {
	client, err := gridfs.Connect(ctx, url)
	if err != nil {
		return nil, nil, nil, err
	}
	return gridfs.New(client, "videos"), gridfs.New(client, "mp3s"), func() { client.Disconnect(context.Background()) }, nil
}

// accounts are what the user commands work on: users, and the jobs and
// files that go with an account when it is deleted.
type accounts struct {
	users        mp3converter.UserStore
	jobs         mp3converter.JobStore
	videos, mp3s mp3converter.BlobStore // nil on MySQL without a storage URL
	close        func()
}

// openAccounts opens them for the operator commands: MySQL (and GridFS when
// a storage URL is set) when a database URL is set, else serve's data dir.
// It does not take the data dir's lock, so that it works beside a running
// serve.
func openAccounts(ctx context.Context, c *Config) (*accounts, error) {
	if c.DatabaseURL == "" {
		db, err := openSQLite(ctx, c.DataDir)
		if err != nil {
			return nil, err
		}
		videos, mp3s, err := openLocalMedia(c.DataDir)
		if err != nil {
			db.Close()
			return nil, err
		}
		return &accounts{users: db.Users, jobs: db.Jobs, videos: videos, mp3s: mp3s, close: func() { db.Close() }}, nil
	}
	db, err := mysql.Open(ctx, c.DatabaseURL)
	if err != nil {
		return nil, err
	}
	a := &accounts{users: db.Users, jobs: db.Jobs, close: func() { db.Close() }}
	if c.StorageURL != "" {
		videos, mp3s, disconnect, err := connectGridFS(ctx, c.StorageURL)
		if err != nil {
			a.close()
			return nil, err
		}
		a.videos, a.mp3s = videos, mp3s
		a.close = func() { disconnect(); db.Close() }
	}
	return a, nil
}

// openDeadLetters opens the dead letters of the operator commands:
// RabbitMQ's when a queue URL is set, else serve's in the data dir.
func openDeadLetters(ctx context.Context, c *Config) (mp3converter.DeadLetterStore, func(), error) {
	if c.QueueURL != "" {
		q, err := rabbitmq.New(c.QueueURL, rabbitmq.Options{ConnectionName: "mp3converter-dead-letters"})
		if err != nil {
			return nil, nil, UsageError{fmt.Errorf("bad setting: MP3CONVERTER_QUEUE_URL: %w", err)}
		}
		return q, func() { q.Close() }, nil
	}
	db, err := openSQLite(ctx, c.DataDir)
	if err != nil {
		return nil, nil, err
	}
	return goqite.New(db.DB, goqite.Options{}), func() { db.Close() }, nil
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
