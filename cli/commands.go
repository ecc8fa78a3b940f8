// Package cli is the command-line client of a server: the login, convert,
// jobs and webhook commands, which talk to the server over its HTTP API
// with package client, and convert's progress bars. It knows nothing of the
// server's insides: it imports no role, engine or app.
//
// Its settings are not the server's, so they are not rows of app's
// settings table: each command has flags whose defaults come from
// environment variables (--server, MP3CONVERTER_SERVER; --token,
// MP3CONVERTER_TOKEN), and the login that login saves.
package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/mp3converter/mp3converter/client"
	"github.com/mp3converter/mp3converter/internal/cmdflag"
	"github.com/mp3converter/mp3converter/internal/cmdio"
)

// clientSettings are the settings every client command shares.
type clientSettings struct {
	server string
	token  string
}

// clientFlags returns the flags of a client command with --server and
// --token registered.
func clientFlags(name string, stderr io.Writer) (*cmdflag.Flags, *clientSettings) {
	s := &clientSettings{}
	f := cmdflag.New(name, stderr)
	f.Env(cmdflag.String(&s.server), "server", []string{"MP3CONVERTER_SERVER"}, "", "the server's URL; default the one of the saved login")
	// A secret: a token from the environment never reaches -h.
	f.Env(cmdflag.Secret(&s.token), "token", []string{"MP3CONVERTER_TOKEN"}, "", "a token to use instead of the saved login's, for scripts")
	return f, s
}

// client returns an API client from the flags and the saved login. The
// saved token is sent only to the server it was issued by.
func (s *clientSettings) client() (*client.Client, error) {
	server, token := s.server, s.token
	if token == "" || server == "" {
		path, err := client.CredentialsPath()
		if err != nil {
			return nil, err
		}
		creds, err := client.LoadCredentials(path)
		if err != nil && !client.IsNotExist(err) {
			return nil, err
		}
		server = cmp.Or(server, creds.Server)
		if token == "" && creds.Token != "" && sameServer(server, creds.Server) {
			token = creds.Token
			if exp, ok := client.TokenExpiry(token); ok && time.Now().After(exp) {
				return nil, fmt.Errorf("your login to %s expired at %s; run mp3converter login again", server, exp.Format(time.DateTime))
			}
		}
	}
	if server == "" {
		return nil, cmdflag.Usagef("no server: run mp3converter login --server URL first, or give --server or MP3CONVERTER_SERVER")
	}
	if err := checkServerURL(server); err != nil {
		return nil, err
	}
	if token == "" {
		return nil, cmdflag.Usagef("not logged in to %s: run mp3converter login --server %s --email E", server, server)
	}
	return client.New(server, token), nil
}

func sameServer(a, b string) bool { return strings.TrimRight(a, "/") == strings.TrimRight(b, "/") }

func checkServerURL(server string) error {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cmdflag.Usagef("--server %q: want an http:// or https:// URL", server)
	}
	return nil
}

// explain adds what to do to a refusal of the token.
func explain(err error) error {
	if client.IsStatus(err, 401) {
		return fmt.Errorf("%w; run mp3converter login again", err)
	}
	return err
}

// RunLogin signs in to a server and keeps the token in the user's config
// directory: login --server URL --email E [--password-stdin].
func RunLogin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f, s := clientFlags("login", stderr)
	var email string
	var passwordStdin bool
	f.StringVar(&email, "email", "", "your email address")
	f.BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input (when it is not a terminal)")
	if err := f.Parse(args); err != nil {
		return err
	}
	var saved client.Credentials
	if path, err := client.CredentialsPath(); err == nil {
		saved, _ = client.LoadCredentials(path)
	}
	if s.server == "" { // logging in again
		s.server = saved.Server
	}
	if s.server == "" || email == "" {
		return cmdflag.Usagef("login: give --server URL and --email E")
	}
	if err := checkServerURL(s.server); err != nil {
		return err
	}
	password, err := readPassword(stdin, stderr, email, passwordStdin)
	if err != nil {
		return err
	}
	c := client.New(s.server, "")
	if strings.TrimRight(saved.Server, "/") == c.Server {
		// The device cookie this server gave at the last login: while
		// strangers spend the account's login budget, it still lets us in.
		c.Device = saved.Device
	}
	token, err := c.Login(ctx, email, password)
	if err != nil {
		return err
	}
	path, err := client.CredentialsPath()
	if err != nil {
		return err
	}
	creds := client.Credentials{Server: c.Server, Email: email, Token: token, Device: c.Device, SavedAt: time.Now().UTC()}
	if err := client.SaveCredentials(path, creds); err != nil {
		return fmt.Errorf("keeping the token: %w", err)
	}
	until := ""
	if exp, ok := client.TokenExpiry(token); ok {
		until = ", valid until " + exp.Format(time.DateTime)
	}
	fmt.Fprintf(stdout, "logged in to %s as %s; token kept in %s%s\n", c.Server, email, path, until)
	return nil
}

// readPassword reads the password without echo from a terminal, or a line
// of stdin with --password-stdin.
func readPassword(stdin io.Reader, stderr io.Writer, email string, fromStdin bool) (string, error) {
	if f, ok := stdin.(*os.File); ok && !fromStdin && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Password for %s: ", email)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		return string(b), err
	}
	if !fromStdin {
		return "", cmdflag.Usagef("login: standard input is not a terminal: give the password on it with --password-stdin")
	}
	line, err := cmdio.ReadLine(stdin)
	if err != nil {
		return "", err
	}
	if line == "" {
		return "", cmdflag.Usagef("login: no password on standard input")
	}
	return line, nil
}

// RunJobs lists jobs: jobs [--json] [--all] [--limit N]. The table fits
// a terminal's width (see printJobs); elsewhere its lines are whole.
func RunJobs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, s := clientFlags("jobs", stderr)
	var asJSON, all bool
	var limit int
	f.BoolVar(&asJSON, "json", false, "print the jobs as JSON, as the API returns them")
	f.BoolVar(&all, "all", false, "every user's jobs (admins)")
	f.IntVar(&limit, "limit", 0, "at most this many jobs, newest first (default the server's, 100)")
	if err := f.Parse(args); err != nil {
		return err
	}
	c, err := s.client()
	if err != nil {
		return err
	}
	jobs, err := c.Jobs(ctx, client.JobQuery{All: all, Limit: limit})
	if err != nil {
		return explain(err)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(jobs)
	}
	return printJobs(stdout, cmdio.Width(stdout), jobs, all)
}

// printJobs writes jobs as a table at most width cells wide (0: no
// limit); all adds the owner. The ERROR column is there only when a job
// failed. Where the table is too wide, the file names (and owners and
// reasons) are cut first, to 16 cells at least, then columns go: ID,
// CREATED, LENGTH, MP3, SIZE (--json has them all).
func printJobs(w io.Writer, width int, jobs []client.Job, all bool) error {
	cols := []cmdio.Column{{Header: "ID", Drop: 1}}
	if all {
		cols = append(cols, cmdio.Column{Header: "OWNER", Min: 12})
	}
	cols = append(cols, cmdio.Column{Header: "STATUS"}, cmdio.Column{Header: "FILE", Min: 16},
		cmdio.Column{Header: "LENGTH", Right: true, Drop: 3}, cmdio.Column{Header: "SIZE", Right: true, Drop: 5},
		cmdio.Column{Header: "MP3", Right: true, Drop: 4}, cmdio.Column{Header: "CREATED", Drop: 2})
	failed := slices.ContainsFunc(jobs, func(j client.Job) bool { return j.Status == client.StatusFailed })
	if failed {
		cols = append(cols, cmdio.Column{Header: "ERROR", Min: 16})
	}
	rows := make([][]string, 0, len(jobs))
	for _, j := range jobs {
		row := []string{j.ID}
		if all {
			row = append(row, j.Owner)
		}
		status := j.Status
		if j.Status == client.StatusProcessing {
			status = fmt.Sprintf("%s %.0f%%", j.Status, j.Progress*100)
		}
		mp3 := "-"
		if j.MP3Size > 0 {
			mp3 = cmdio.Bytes(j.MP3Size)
		}
		row = append(row, status, j.Filename, cmdio.Duration(j.Duration), cmdio.Bytes(j.Size), mp3,
			j.CreatedAt.Local().Format("2006-01-02 15:04"))
		if failed && j.Status != client.StatusDone {
			row = append(row, j.Reason()) // as the page: a retried job's last error too
		}
		rows = append(rows, row)
	}
	return cmdio.FitTable(w, width, cols, rows)
}

// RunWebhook manages webhooks: webhook add URL | list | delete ID |
// deliveries ID.
func RunWebhook(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const want = "webhook: want add URL, list, delete ID or deliveries ID"
	if len(args) == 0 {
		return cmdflag.Usagef(want)
	}
	f, s := clientFlags("webhook "+args[0], stderr)
	if err := f.ParseWithArgs(args[1:]); err != nil {
		return err
	}
	nargs := map[string]int{"add": 1, "list": 0, "delete": 1, "deliveries": 1}
	n, ok := nargs[args[0]]
	if !ok || f.NArg() != n {
		return cmdflag.Usagef(want)
	}
	c, err := s.client()
	if err != nil {
		return err
	}
	switch args[0] {
	case "add":
		w, err := c.AddWebhook(ctx, f.Arg(0))
		if err != nil {
			return explain(err)
		}
		fmt.Fprintf(stdout, "added webhook %s for %s\nsecret: %s\n(keep the secret to check the webhook-signature header; it is not shown again)\n", w.ID, w.URL, w.Secret)
		return nil
	case "delete":
		if err := c.DeleteWebhook(ctx, f.Arg(0)); err != nil {
			return explain(err)
		}
		fmt.Fprintf(stdout, "deleted webhook %s\n", f.Arg(0))
		return nil
	case "deliveries":
		return listDeliveries(ctx, c, f.Arg(0), stdout)
	}
	return listWebhooks(ctx, c, stdout)
}

func listWebhooks(ctx context.Context, c *client.Client, stdout io.Writer) error {
	ws, err := c.Webhooks(ctx)
	if err != nil {
		return explain(err)
	}
	tw := cmdio.Table(stdout)
	fmt.Fprintln(tw, "ID\tURL\tCREATED\tLAST DELIVERY")
	for _, w := range ws {
		last := "-"
		if d := w.LastDelivery; d != nil {
			last = describeDelivery(*d)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", w.ID, w.URL, w.CreatedAt.Local().Format("2006-01-02 15:04"), last)
	}
	return tw.Flush()
}

func listDeliveries(ctx context.Context, c *client.Client, id string, stdout io.Writer) error {
	ds, err := c.Deliveries(ctx, id)
	if err != nil {
		return explain(err)
	}
	tw := cmdio.Table(stdout)
	fmt.Fprintln(tw, "AT\tEVENT\tJOB\tSTATUS\tATTEMPTS\tHTTP\tERROR")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", d.At.Local().Format(time.DateTime), d.Event, cmp.Or(d.JobID, "-"),
			d.Status, d.Attempts, d.HTTPStatus, cmp.Or(cmdio.OneLine(d.Error), "-"))
	}
	return tw.Flush()
}

func describeDelivery(d client.Delivery) string {
	s := fmt.Sprintf("%s %s %s", d.Event, d.Status, d.At.Local().Format("2006-01-02 15:04"))
	if d.HTTPStatus != 0 {
		s += fmt.Sprintf(" (HTTP %d)", d.HTTPStatus)
	}
	if d.Error != "" {
		s += ": " + cmdio.OneLine(d.Error)
	}
	return s
}
