// Command mp3converter turns uploaded videos into MP3 files.
//
//	mp3converter serve          everything in one process, embedded storage
//	mp3converter gateway|auth|converter|notification
//	                            one role, on MySQL, RabbitMQ and MongoDB GridFS
//	mp3converter user add|list|delete
//
// Run "mp3converter help" for all commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const help = `mp3converter turns uploaded videos into MP3 files.

Usage:
  mp3converter serve            run every role in one process with embedded storage
  mp3converter gateway          the public HTTP API, on MySQL, RabbitMQ and GridFS
  mp3converter auth             users and tokens, on MySQL
  mp3converter converter        ffmpeg workers on the video queue
  mp3converter notification     mails users when their MP3 is ready
  mp3converter user add --email E --password-stdin [--admin]
  mp3converter user list
  mp3converter user delete --email E
  mp3converter dead-letters list [--queue video,mp3]
  mp3converter dead-letters requeue --queue Q (--id ID | --all)
  mp3converter version

Run "mp3converter <command> -h" for a command's settings. Every setting can
also be given as an environment variable, named in the help.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, help)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], stdout, stderr)
	case "gateway", "auth", "converter", "notification":
		err = runRole(ctx, args[0], args[1:], stderr)
	case "user":
		err = runUser(ctx, args[1:], stdin, stdout, stderr)
	case "dead-letters":
		err = runDeadLetters(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "mp3converter", version)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, help)
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], help)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintln(stderr, "mp3converter:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "mp3converter:", err)
		return 1
	}
}

// usageError is a bad command line or setting: exit status 2.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("bad setting: MP3CONVERTER_LOG_LEVEL=%q: want debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("bad setting: MP3CONVERTER_LOG_FORMAT=%q: want text or json", format)}
}
