package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/goqite"
	"github.com/mp3converter/mp3converter/rabbitmq"
	"github.com/mp3converter/mp3converter/sqlite"
)

// runDeadLetters lists and re-queues the messages that could not be
// handled: dead-letters list|requeue.
func runDeadLetters(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "requeue") {
		return usageError{errors.New("dead-letters: want list or requeue")}
	}
	s := newSettings("dead-letters "+args[0], stderr)
	var dataDir, queueURL, id string
	var queues string
	var all bool
	s.String(&dataDir, "data-dir", "./data", "data directory of \"serve\"", "MP3CONVERTER_DATA_DIR")
	s.Secret(&queueURL, "queue-url", "RabbitMQ of the roles, amqp://user:pass@host:5672/; when set, used instead of --data-dir", "MP3CONVERTER_QUEUE_URL")
	s.fs.StringVar(&queues, "queue", mp3converter.DefaultVideoQueue+","+mp3converter.DefaultMP3Queue, "queues whose dead letters to act on, comma-separated")
	if args[0] == "requeue" {
		s.fs.StringVar(&id, "id", "", "the dead letter to put back (from list)")
		s.fs.BoolVar(&all, "all", false, "put back every dead letter of the queues")
	}
	if err := s.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	if args[0] == "requeue" && (id == "") == !all {
		return usageError{errors.New("dead-letters requeue: give --id or --all")}
	}
	var store mp3converter.DeadLetterStore
	if queueURL != "" {
		q, err := rabbitmq.New(queueURL, rabbitmq.Options{ConnectionName: "mp3converter-dead-letters"})
		if err != nil {
			return usageError{fmt.Errorf("bad setting: MP3CONVERTER_QUEUE_URL: %w", err)}
		}
		defer q.Close()
		store = q
	} else {
		db, err := sqlite.Open(ctx, filepath.Join(dataDir, "mp3converter.db"))
		if err != nil {
			return err
		}
		defer db.Close()
		store = goqite.New(db.DB, goqite.Options{})
	}

	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
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
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", dl.ID, dl.Queue, dl.Attempts, dl.At.Format("2006-01-02 15:04:05"), jobOf(dl.Body), oneLine(dl.Reason))
			case all || dl.ID == id:
				if err := store.Requeue(ctx, queue, dl.ID); err != nil {
					return err
				}
				fmt.Fprintf(tw, "requeued %s on %s\n", dl.ID, queue)
				moved++
			}
		}
	}
	if args[0] == "requeue" && moved == 0 {
		tw.Flush()
		return fmt.Errorf("no dead letter %s", id)
	}
	return tw.Flush()
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

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
