package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/mysql"
	"github.com/mp3converter/mp3converter/sqlite"
)

const minPassword = 8

// runUser manages users: user add|list|delete.
func runUser(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("user: want add, list or delete")}
	}
	s := newSettings("user "+args[0], stderr)
	var dataDir, databaseURL, email string
	var admin, passwordStdin bool
	s.String(&dataDir, "data-dir", "./data", "data directory of \"serve\"", "MP3CONVERTER_DATA_DIR")
	s.Secret(&databaseURL, "database-url", "MySQL of the auth role, mysql://user:pass@host:3306/auth (or the seed's MYSQL_* variables); when set, used instead of --data-dir", "MP3CONVERTER_DATABASE_URL")
	switch args[0] {
	case "add":
		s.fs.StringVar(&email, "email", "", "the user's email address")
		s.fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
		s.fs.BoolVar(&admin, "admin", false, "make the user an admin (sees every job)")
	case "delete":
		s.fs.StringVar(&email, "email", "", "the user's email address")
	case "list":
	default:
		return usageError{fmt.Errorf("user: unknown command %q: want add, list or delete", args[0])}
	}
	if err := s.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	if databaseURL == "" {
		databaseURL = seedDatabaseURL()
	}
	if databaseURL != "" {
		db, err := mysql.Open(ctx, databaseURL)
		if err != nil {
			return err
		}
		defer db.Close()
		return userCommand(ctx, args[0], db.Users, email, admin, passwordStdin, stdin, stdout)
	}
	db, err := sqlite.Open(ctx, filepath.Join(dataDir, "mp3converter.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	return userCommand(ctx, args[0], db.Users, email, admin, passwordStdin, stdin, stdout)
}

func userCommand(ctx context.Context, cmd string, users mp3converter.UserStore, email string, admin, passwordStdin bool, stdin io.Reader, stdout io.Writer) error {
	switch cmd {
	case "list":
		list, err := users.ListUsers(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "EMAIL\tADMIN\tCREATED")
		for _, u := range list {
			created := "-"
			if !u.CreatedAt.IsZero() {
				created = u.CreatedAt.Format("2006-01-02 15:04")
			}
			fmt.Fprintf(tw, "%s\t%v\t%s\n", u.Email, u.Admin, created)
		}
		return tw.Flush()
	case "delete":
		e, err := mp3converter.NormalizeEmail(email)
		if err != nil {
			return usageError{fmt.Errorf("--email: %w", err)}
		}
		if err := users.DeleteUser(ctx, e); errors.Is(err, mp3converter.ErrNotFound) {
			return fmt.Errorf("no user %s", e)
		} else if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s; their tokens no longer work\n", e)
		return nil
	}
	e, err := mp3converter.NormalizeEmail(email)
	if err != nil {
		return usageError{fmt.Errorf("--email: %w", err)}
	}
	if !passwordStdin {
		return usageError{errors.New("user add: give the password on standard input with --password-stdin")}
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && err != io.EOF {
		return err
	}
	password := strings.TrimRight(line, "\r\n")
	if len(password) < minPassword {
		return usageError{fmt.Errorf("user add: password shorter than %d characters", minPassword)}
	}
	hash, err := (&auth.Service{}).HashPassword(password)
	if err != nil {
		return err
	}
	if err := users.CreateUser(ctx, &mp3converter.User{Email: e, PasswordHash: hash, Admin: admin}); errors.Is(err, mp3converter.ErrConflict) {
		return fmt.Errorf("user %s exists", e)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added %s (admin: %v)\n", e, admin)
	return nil
}
