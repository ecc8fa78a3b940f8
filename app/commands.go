package app

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/internal/cmdflag"
	"github.com/mp3converter/mp3converter/internal/cmdio"
)

// RunProcess runs process p with settings from args and the environment
// until ctx ends, then stops it gracefully.
func RunProcess(ctx context.Context, p Process, args []string, stdout, stderr io.Writer) error {
	cfg, err := ParseConfig(p, args, stderr)
	if err != nil {
		return err
	}
	log := NewLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	m := &Main{Process: p, Config: cfg, Logger: log, Stdout: stdout}
	if err := m.Run(ctx); err != nil {
		m.Close()
		return err
	}
	<-ctx.Done()
	log.Info("ShuttingDown")
	return m.Close()
}

// NewLogger logs to w in format (text or json) from level on; both are
// checked by Validate.
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// RunUser manages users: user add|list|passwd|delete, on serve's data dir
// or on the auth role's MySQL.
func RunUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return cmdflag.Usagef("user: want add, list, passwd or delete")
	}
	var c Config
	var email string
	var admin bool
	var pw passwordSource
	f := cmdflag.New("user "+args[0], stderr)
	addSettings(f, &c, "user", Named("data-dir", "database-url", "storage-url"))
	switch args[0] {
	case "add":
		f.StringVar(&email, "email", "", "the user's email address")
		f.BoolVar(&pw.stdin, "password-stdin", false, "read the password from standard input")
		f.StringVar(&pw.env, "password-env", "", "read the password from this environment variable (in a container without a shell)")
		f.BoolVar(&admin, "admin", false, "make the user an admin (sees every job)")
		f.BoolVar(&pw.existsOK, "exists-ok", false, "succeed, changing nothing, when the user exists already (a first admin made at every start)")
	case "passwd":
		f.StringVar(&email, "email", "", "the user's email address")
		f.BoolVar(&pw.stdin, "password-stdin", false, "read the new password from standard input")
		f.StringVar(&pw.env, "password-env", "", "read the new password from this environment variable (in a container without a shell)")
	case "delete":
		f.StringVar(&email, "email", "", "the user's email address")
	case "list":
	default:
		return cmdflag.Usagef("user: unknown command %q: want add, list, passwd or delete", args[0])
	}
	pw.cmd = "user " + args[0]
	if err := f.Parse(args[1:]); err != nil {
		return err
	}
	c.DatabaseURL = cmp.Or(c.DatabaseURL, seedDatabaseURL())
	a, err := openAccounts(ctx, &c)
	if err != nil {
		return err
	}
	defer a.close()
	switch args[0] {
	case "list":
		return listUsers(ctx, a.users, stdout)
	case "delete":
		return deleteUser(ctx, a, email, stdout)
	case "passwd":
		return setPassword(ctx, a.users, email, pw, stdin, stdout)
	}
	return addUser(ctx, a.users, email, admin, pw, stdin, stdout)
}

// passwordSource is where user add and user passwd take the password from.
type passwordSource struct {
	cmd      string // the command, for errors
	stdin    bool   // the first line of standard input
	env      string // else this environment variable
	existsOK bool   // an existing user is no error
}

func (p passwordSource) read(stdin io.Reader) (string, error) {
	switch {
	case p.stdin == (p.env != ""):
		return "", cmdflag.Usagef("%s: give the password on standard input with --password-stdin, or name its environment variable with --password-env", p.cmd)
	case p.stdin:
		return cmdio.ReadLine(stdin)
	}
	v, ok := os.LookupEnv(p.env)
	if !ok || v == "" {
		return "", cmdflag.Usagef("%s: --password-env: %s is not set", p.cmd, p.env)
	}
	return v, nil
}

// hash reads the password and hashes it, if auth's length rules allow it.
func (p passwordSource) hash(stdin io.Reader) (string, error) {
	password, err := p.read(stdin)
	if err != nil {
		return "", err
	}
	if len(password) < auth.MinPasswordLength {
		return "", cmdflag.Usagef("%s: password shorter than %d characters", p.cmd, auth.MinPasswordLength)
	}
	if len(password) > auth.MaxPasswordBytes {
		return "", cmdflag.Usagef("%s: password longer than %d bytes", p.cmd, auth.MaxPasswordBytes)
	}
	return (&auth.Service{}).HashPassword(password)
}

func listUsers(ctx context.Context, users mp3converter.UserStore, stdout io.Writer) error {
	list, err := users.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := cmdio.Table(stdout)
	fmt.Fprintln(tw, "EMAIL\tADMIN\tCREATED\tPASSWORD")
	for _, u := range list {
		created := "-"
		if !u.CreatedAt.IsZero() {
			created = u.CreatedAt.Format("2006-01-02 15:04")
		}
		// A plain-text row is the original auth's; our auth re-hashes it at
		// its first login, after which the original auth cannot log it in.
		password := "bcrypt"
		if auth.IsPlainText(u.PasswordHash) {
			password = "plain text (original auth)"
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", u.Email, u.Admin, created, password)
	}
	return tw.Flush()
}

// deleteUser deletes an account with its jobs and their files, so that a
// new account with the same email starts with nothing. Its tokens stop
// working: they name the deleted account.
func deleteUser(ctx context.Context, a *accounts, email string, stdout io.Writer) error {
	e, err := mp3converter.NormalizeEmail(email)
	if err != nil {
		return cmdflag.Usagef("--email: %w", err)
	}
	if _, err := a.users.UserByEmail(ctx, e); errors.Is(err, mp3converter.ErrNotFound) {
		return fmt.Errorf("no user %s", e)
	} else if err != nil {
		return err
	}
	jobs, err := a.jobs.ListJobs(ctx, mp3converter.JobFilter{Owner: e})
	if err != nil {
		return err
	}
	if len(jobs) > 0 && a.videos == nil {
		return cmdflag.Usagef("user delete: %s has %d jobs whose files are in GridFS; set MP3CONVERTER_STORAGE_URL so that they go with the account", e, len(jobs))
	}
	for _, j := range jobs {
		if err := mp3converter.DeleteJobAndFiles(ctx, a.jobs, a.videos, a.mp3s, j); err != nil && !errors.Is(err, mp3converter.ErrNotFound) {
			return fmt.Errorf("delete job %s of %s: %w", j.ID, e, err)
		}
	}
	if err := a.users.DeleteUser(ctx, e); errors.Is(err, mp3converter.ErrNotFound) {
		return fmt.Errorf("no user %s", e)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted %s with %d jobs and their files; their tokens no longer work\n", e, len(jobs))
	return nil
}

func addUser(ctx context.Context, users mp3converter.UserStore, email string, admin bool, pw passwordSource, stdin io.Reader, stdout io.Writer) error {
	e, err := mp3converter.NormalizeEmail(email)
	if err != nil {
		return cmdflag.Usagef("--email: %w", err)
	}
	hash, err := pw.hash(stdin)
	if err != nil {
		return err
	}
	if err := users.CreateUser(ctx, &mp3converter.User{Email: e, PasswordHash: hash, Admin: admin}); errors.Is(err, mp3converter.ErrConflict) {
		if pw.existsOK {
			fmt.Fprintf(stdout, "%s exists; unchanged\n", e)
			return nil
		}
		return fmt.Errorf("user %s exists", e)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s (admin: %v)\n", e, admin)
	return nil
}

// setPassword gives an account a new password and revokes every token it
// was issued before, on every device.
func setPassword(ctx context.Context, users mp3converter.UserStore, email string, pw passwordSource, stdin io.Reader, stdout io.Writer) error {
	e, err := mp3converter.NormalizeEmail(email)
	if err != nil {
		return cmdflag.Usagef("--email: %w", err)
	}
	hash, err := pw.hash(stdin)
	if err != nil {
		return err
	}
	if err := users.SetPassword(ctx, e, hash); errors.Is(err, mp3converter.ErrNotFound) {
		return fmt.Errorf("no user %s", e)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "changed the password of %s; their earlier tokens no longer work\n", e)
	return nil
}

// RunDeadLetters lists and re-queues the messages that could not be
// handled: dead-letters list|requeue.
func RunDeadLetters(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "requeue") {
		return cmdflag.Usagef("dead-letters: want list or requeue")
	}
	var c Config
	var queues, id string
	var all bool
	f := cmdflag.New("dead-letters "+args[0], stderr)
	addSettings(f, &c, "dead-letters", Named("data-dir", "queue-url", "queue-type"))
	f.StringVar(&queues, "queue", mp3converter.DefaultVideoQueue+","+mp3converter.DefaultMP3Queue, "queues whose dead letters to act on, comma-separated")
	if args[0] == "requeue" {
		f.StringVar(&id, "id", "", "the dead letter to put back (from list)")
		f.BoolVar(&all, "all", false, "put back every dead letter of the queues")
	}
	if err := f.Parse(args[1:]); err != nil {
		return err
	}
	if args[0] == "requeue" && (id == "") == !all {
		return cmdflag.Usagef("dead-letters requeue: give --id or --all")
	}
	store, closeStore, err := openDeadLetters(ctx, &c)
	if err != nil {
		return err
	}
	defer closeStore()
	tw := cmdio.Table(stdout)
	defer tw.Flush()
	if args[0] == "list" {
		fmt.Fprintln(tw, "ID\tQUEUE\tATTEMPTS\tDEAD SINCE\tJOB\tREASON")
	}
	moved := 0
	for _, queue := range strings.Split(queues, ",") {
		queue = strings.TrimSpace(queue)
		dls, err := store.DeadLetters(ctx, queue)
		if err != nil {
			return err
		}
		for _, dl := range dls {
			switch {
			case args[0] == "list":
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", dl.ID, dl.Queue, dl.Attempts, dl.At.Format("2006-01-02 15:04:05"), jobOf(dl.Body), cmdio.OneLine(dl.Reason))
			case all || dl.ID == id:
				if err := store.Requeue(ctx, queue, dl.ID); err != nil {
					return err
				}
				fmt.Fprintf(tw, "requeued %s on %s\n", dl.ID, queue)
				moved++
			}
		}
	}
	switch {
	case args[0] != "requeue" || moved > 0:
		return nil
	case all:
		return fmt.Errorf("no dead letters on %s", queues)
	}
	return fmt.Errorf("no dead letter %s", id)
}

// jobOf names the job a queue message is about.
func jobOf(body []byte) string {
	var m mp3converter.Message
	if json.Unmarshal(body, &m) != nil {
		return "(not a job message)"
	}
	if m.JobID != "" {
		return m.JobID
	}
	return "video " + m.VideoFID
}
