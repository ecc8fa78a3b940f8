package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/mp3converter/mp3converter/goqite"
	"github.com/mp3converter/mp3converter/gridfs"
	"github.com/mp3converter/mp3converter/internal/cmdflag"
	"github.com/mp3converter/mp3converter/internal/diskspace"
	"github.com/mp3converter/mp3converter/internal/memory"
	"github.com/mp3converter/mp3converter/internal/sqldb"
	"github.com/mp3converter/mp3converter/localfs"
	"github.com/mp3converter/mp3converter/mysql"
	"github.com/mp3converter/mp3converter/rabbitmq"
	"github.com/mp3converter/mp3converter/s3"
	"github.com/mp3converter/mp3converter/sqlite"
)

// This file is the one place that chooses backends: one table, engines,
// whose rows are keyed by the setting that names an engine and its URL's
// scheme. Adding a backend is a package, its conformance test, and a row.

// The settings whose URLs name the engines.
const (
	databaseURL = "database-url" // users, jobs and webhooks
	queueURL    = "queue-url"
	storageURL  = "storage-url" // videos and MP3s
)

// The engines of serve, which runs alone on its data dir.
const (
	defaultDatabase = "sqlite:"
	defaultQueue    = "goqite:"
	defaultStorage  = "file:"
)

// engine is a backend.
type engine struct {
	setting string
	scheme  string
	form    string // the URL's form, for -h and errors
	// check says what is wrong with a URL of it, without connecting.
	check func(rawURL string) error
	// open opens it into e: a database sets Users, Jobs and Webhooks, a
	// queue Queue, a storage Videos and MP3s; each adds its readiness
	// check and its closer.
	open func(ctx context.Context, e *Engines, o opening) error
	// needsSQLite: the engine keeps its data in the SQLite database.
	needsSQLite bool
}

// opening is what an engine is opened with.
type opening struct {
	url string
	c   *Config
	p   Process
	log *slog.Logger
}

var engines = []engine{
	{setting: databaseURL, scheme: "sqlite", form: "sqlite: (mp3converter.db in the data dir) or sqlite:FILE", check: checkLocal, open: openSQLite},
	{setting: databaseURL, scheme: "mysql", form: "mysql://USER:PASSWORD@HOST:3306/DB", check: checkMySQL, open: openMySQL},
	{setting: queueURL, scheme: "goqite", form: "goqite: (in the sqlite: database)", check: checkBare, open: openGoqite, needsSQLite: true},
	{setting: queueURL, scheme: "amqp", form: "amqp://USER:PASSWORD@HOST:5672/ (a cluster's nodes: several, comma-separated, tried in turn)", check: checkAMQP, open: openRabbitMQ},
	{setting: queueURL, scheme: "amqps", form: "amqps://USER:PASSWORD@HOST:5671/", check: checkAMQP, open: openRabbitMQ},
	{setting: storageURL, scheme: "file", form: "file: (videos/ and mp3s/ in the data dir) or file:DIR", check: checkLocal, open: openFiles},
	{setting: storageURL, scheme: "mongodb", form: "mongodb://HOST:27017 (GridFS, databases videos and mp3s)", check: gridfs.CheckURL, open: openGridFS},
	{setting: storageURL, scheme: "mongodb+srv", form: "mongodb+srv://HOST", check: gridfs.CheckURL, open: openGridFS},
	{setting: storageURL, scheme: "s3", form: "s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION (credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)", check: s3.CheckURL, open: openS3},
}

// engineFor returns the engine of setting that rawURL names.
func engineFor(setting, rawURL string) (engine, error) {
	scheme, _, ok := strings.Cut(rawURL, ":")
	var forms []string
	for _, en := range engines {
		if en.setting != setting {
			continue
		}
		if ok && strings.EqualFold(scheme, en.scheme) {
			return en, nil
		}
		forms = append(forms, en.form)
	}
	return engine{}, fmt.Errorf("want one of: %s", strings.Join(forms, "; "))
}

// checkEngine says what is wrong with rawURL as setting's URL.
func checkEngine(setting, rawURL string) string {
	if rawURL == "" {
		return "is not set"
	}
	en, err := engineFor(setting, rawURL)
	if err == nil {
		err = en.check(rawURL)
	}
	return errText(0, err)
}

// localPath is the path a sqlite: or file: URL names, or def for none.
func localPath(rawURL, def string) string {
	_, p, _ := strings.Cut(rawURL, ":")
	p = strings.TrimPrefix(p, "//") // file:///data as well as file:/data
	if p == "" {
		return def
	}
	return p
}

func checkLocal(string) error { return nil }

func checkBare(rawURL string) error {
	if _, rest, _ := strings.Cut(rawURL, ":"); rest != "" {
		return fmt.Errorf("%q takes nothing after the scheme", rawURL)
	}
	return nil
}

func checkMySQL(rawURL string) error {
	_, err := mysql.DSN(rawURL)
	return err
}

func checkAMQP(rawURL string) error {
	q, err := rabbitmq.New(rawURL, rabbitmq.Options{})
	if err == nil {
		q.Close()
	}
	return err
}

func openSQLite(ctx context.Context, e *Engines, o opening) error {
	path := localPath(o.url, filepath.Join(o.c.DataDir, "mp3converter.db"))
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("database dir: %w", err)
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	e.onClose(func() { db.Close() })
	e.Users, e.Jobs, e.Webhooks, e.sqlite = db.Users, db.Jobs, db.Webhooks, db
	e.useLimits(db, o.p)
	e.check("database", db.Ping)
	return nil
}

func openMySQL(ctx context.Context, e *Engines, o opening) error {
	db, err := mysql.Open(ctx, o.url)
	if err != nil {
		return err
	}
	e.onClose(func() { db.Close() })
	e.Users, e.Jobs, e.Webhooks = db.Users, db.Jobs, db.Webhooks
	e.useLimits(db, o.p)
	e.check("database", db.Ping)
	return nil
}

// openGoqite opens the queue in the SQLite database. A process alone is its
// only consumer: it puts back, at start, what a process that died held.
func openGoqite(_ context.Context, e *Engines, o opening) error {
	if e.sqlite == nil {
		return cmdflag.Usagef("bad setting: %s: goqite: keeps its queue in the SQLite database, and %s names none",
			envOf(queueURL), envOf(databaseURL))
	}
	q := goqite.New(e.sqlite.DB, goqite.Options{Policy: policy(o.c), Logger: o.log})
	e.onClose(func() { q.Close() })
	e.Queue = q
	e.check("queue", q.Ping)
	if o.p.Shape == Standalone {
		e.recover = q.Recover
	}
	return nil
}

func openRabbitMQ(_ context.Context, e *Engines, o opening) error {
	q, err := rabbitmq.New(o.url, rabbitmq.Options{Policy: policy(o.c), QueueType: o.c.QueueType, Logger: o.log,
		ConnectionName: "mp3converter-" + o.p.Name})
	if err != nil {
		return err
	}
	e.onClose(func() { q.Close() })
	e.Queue = q
	e.check("queue", q.Ping)
	return nil
}

// openFiles opens videos/ and mp3s/ in the directory of the URL. In the
// data dir of a process alone, which holds its lock, the partial files of
// a run that died are removed: nobody else writes there.
func openFiles(_ context.Context, e *Engines, o opening) error {
	dir := localPath(o.url, o.c.DataDir)
	videos, err := localfs.Open(filepath.Join(dir, "videos"))
	if err != nil {
		return err
	}
	mp3s, err := localfs.Open(filepath.Join(dir, "mp3s"))
	if err != nil {
		return err
	}
	if o.p.Shape == Standalone && dir == o.c.DataDir {
		if err := removePartial(o.log, videos, mp3s); err != nil {
			return err
		}
	}
	e.Videos, e.MP3s = videos, mp3s
	e.space = diskspace.Floor(dir, int64(o.c.MinFreeSpace))
	e.check("videos", videos.Ping)
	e.check("mp3s", mp3s.Ping)
	e.check("free-space", e.space)
	return nil
}

func openGridFS(ctx context.Context, e *Engines, o opening) error {
	client, err := gridfs.Connect(ctx, o.url)
	if err != nil {
		return err
	}
	e.onClose(func() { client.Disconnect(context.Background()) })
	e.Videos, e.MP3s = gridfs.New(client, "videos"), gridfs.New(client, "mp3s")
	e.check("storage", e.Videos.Ping)
	return nil
}

func openS3(ctx context.Context, e *Engines, o opening) error {
	client, err := s3.Open(ctx, o.url)
	if err != nil {
		return err
	}
	e.onClose(func() { client.Close() })
	e.Videos, e.MP3s = client.Store("videos"), client.Store("mp3s")
	e.check("storage", client.Ping)
	return nil
}

// useLimits keeps the limits of one role of a split deployment in the
// database's tables, which the other replicas share, renewing this
// process's leases while it runs; a process alone keeps them in memory,
// where a login's reservation costs no transaction.
func (e *Engines) useLimits(db *sqldb.DB, p Process) {
	if p.Shape == Standalone {
		e.Limits = memory.NewLimits()
		return
	}
	l := db.NewLimits()
	e.Limits = l
	e.background = append(e.background, l.Run)
}

// removePartial removes the partial blobs of a run that died writing them.
func removePartial(log *slog.Logger, stores ...*localfs.Store) error {
	for _, s := range stores {
		n, err := s.RemoveTemp()
		if err != nil {
			return err
		}
		if n > 0 && log != nil {
			log.Info("PartialBlobsRemoved", "files", n)
		}
	}
	return nil
}
