// Command mp3converter turns uploaded videos into MP3 files.
//
//	mp3converter serve          everything in one process, embedded storage
//	mp3converter gateway|auth|converter|notification
//	                            one role, on MySQL, RabbitMQ and MongoDB GridFS
//	mp3converter user add|list|passwd|delete
//	mp3converter login|convert|jobs|webhook
//	                            the command-line client of a server
//
// Run "mp3converter help" for all commands. This file parses the command;
// package app assembles and runs the processes, package cli is the client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mp3converter/mp3converter/app"
	"github.com/mp3converter/mp3converter/cli"
	"github.com/mp3converter/mp3converter/internal/cmdflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func help() string {
	var b strings.Builder
	b.WriteString("mp3converter turns uploaded videos into MP3 files.\n\nUsage:\n")
	for _, p := range app.Processes {
		fmt.Fprintf(&b, "  mp3converter %-16s %s\n", p.Name, p.Summary)
	}
	b.WriteString(`  mp3converter user add --email E --password-stdin [--admin]
  mp3converter user list
  mp3converter user passwd --email E --password-stdin   a new password; revokes the user's tokens
  mp3converter user delete --email E
  mp3converter dead-letters list [--queue video,mp3]
  mp3converter dead-letters requeue --queue Q (--id ID | --all)
  mp3converter healthcheck [--url URL] [--role R]   exits 0 when this container's process is ready
      (asks --url, else --role's address, else MP3CONVERTER_ADDR or _HEALTH_ADDR, else PID 1's)
  mp3converter version

The client of a server (settings: --server URL or MP3CONVERTER_SERVER,
--token T or MP3CONVERTER_TOKEN; by default the saved login's):
  mp3converter login --server URL --email E [--password-stdin]
  mp3converter convert [-o DIR] [upload options] FILE...
      the options as POST /upload names them: --quality V0..V9 | --bitrate 128,
      --channels mono|stereo, --sample_rate (or --sample-rate) 44100,
      --start T, --end T, --normalize, --title T
  mp3converter jobs [--json] [--all] [--limit N]
  mp3converter webhook add URL | list | delete ID | deliveries ID

Run "mp3converter <command> -h" for a command's settings. Every setting can
also be given as an environment variable, named in the help.
`)
	return b.String()
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, help())
		return 2
	}
	var err error
	if p, ok := app.LookupProcess(args[0]); ok {
		err = app.RunProcess(ctx, p, args[1:], stdout, stderr)
	} else {
		switch args[0] {
		case "user":
			err = app.RunUser(ctx, args[1:], stdin, stdout, stderr)
		case "dead-letters":
			err = app.RunDeadLetters(ctx, args[1:], stdout, stderr)
		case "login":
			err = cli.RunLogin(ctx, args[1:], stdin, stdout, stderr)
		case "convert":
			err = cli.RunConvert(ctx, args[1:], stdout, stderr)
		case "jobs":
			err = cli.RunJobs(ctx, args[1:], stdout, stderr)
		case "webhook":
			err = cli.RunWebhook(ctx, args[1:], stdout, stderr)
		case "healthcheck":
			err = app.RunHealthcheck(ctx, args[1:], stdout, stderr)
		case "version":
			fmt.Fprintln(stdout, "mp3converter", version)
		case "help", "-h", "-help", "--help":
			fmt.Fprint(stdout, help())
		default:
			fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], help())
			return 2
		}
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case cmdflag.IsUsage(err):
		fmt.Fprintln(stderr, "mp3converter:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "mp3converter:", err)
		return 1
	}
}
