package app

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the README's settings table from the flag table")

const (
	tableBegin = "<!-- settings table: made by `go test ./app -update`; do not edit -->\n"
	tableEnd   = "<!-- end of settings table -->\n"
)

// TestREADMESettings: the README's table of settings is the flag table's.
func TestREADMESettings(t *testing.T) {
	const path = "../README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	before, rest, ok1 := strings.Cut(readme, tableBegin)
	table, after, ok2 := strings.Cut(rest, tableEnd)
	if !ok1 || !ok2 {
		t.Fatalf("README.md has no settings table between %q and %q", tableBegin, tableEnd)
	}
	want := settingsTable()
	if table == want {
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(before+tableBegin+want+tableEnd+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's settings table differs from the flag table; run go test ./app -update.\nwant:\n%s", want)
}
