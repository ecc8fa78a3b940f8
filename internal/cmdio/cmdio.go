// Package cmdio is how the binary's commands, the server's (user,
// dead-letters, healthcheck) and the client's (login, convert, jobs,
// webhook), read from and write to a person: a password from a line of
// standard input, listings in aligned columns (FitTable fits them to a
// terminal's width), sizes and lengths as the web page shows them (Bytes,
// Rate, Duration), and any text cut to one line.
package cmdio

import (
	"bufio"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// ReadLine reads a password from the first line of stdin, without its
// line ending: at most 1 KiB of it.
func ReadLine(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// Table writes aligned columns, as every command's listing does; the
// caller ends it with Flush.
func Table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// OneLine is s with its runs of white space made one space and cut to 120
// bytes, between characters, for a cell of a table or a line of an error.
func OneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		cut := 117
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}
