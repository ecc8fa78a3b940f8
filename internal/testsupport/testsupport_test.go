package testsupport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

func TestFailAfter(t *testing.T) {
	boom := errors.New("boom")
	data := testsupport.RandomBytes(100)
	got, err := io.ReadAll(testsupport.FailAfter(bytes.NewReader(data), 60, boom))
	if !errors.Is(err, boom) || !bytes.Equal(got, data[:60]) {
		t.Errorf("read %d bytes, %v; want the first 60 and %v", len(got), err, boom)
	}
	if n, err := testsupport.FailAfter(bytes.NewReader(data), 0, boom).Read(make([]byte, 10)); n != 0 || !errors.Is(err, boom) {
		t.Errorf("FailAfter(0) read %d, %v", n, err)
	}
}

func TestRandom(t *testing.T) {
	if a, b := testsupport.RandomBytes(32), testsupport.RandomBytes(32); len(a) != 32 || bytes.Equal(a, b) {
		t.Errorf("RandomBytes gave %x and %x", a, b)
	}
	a, b := testsupport.RandomName("x_"), testsupport.RandomName("x_")
	if a == b || !strings.HasPrefix(a, "x_") || len(a) != 12 || strings.ToLower(a) != a {
		t.Errorf("RandomName gave %q and %q", a, b)
	}
}

func TestSQLite(t *testing.T) {
	var path string
	t.Run("open", func(t *testing.T) {
		db := testsupport.SQLite(t)
		if err := db.Users.CreateUser(context.Background(), &mp3converter.User{Email: "a@example.com", PasswordHash: "h"}); err != nil {
			t.Fatal(err)
		}
		if err := db.DB.QueryRow(`PRAGMA database_list`).Scan(new(int), new(string), &path); err != nil {
			t.Fatal(err)
		}
		if other := testsupport.SQLite(t); other.Users.CreateUser(context.Background(), &mp3converter.User{Email: "a@example.com", PasswordHash: "h"}) != nil {
			t.Error("two SQLite databases share a file")
		}
	})
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("database file %s left after the test: %v", path, err)
	}
}

// TestOnlyTestsImport checks that no program links test support: of the
// module's non-test code only the conformance suites may import it.
func TestOnlyTestsImport(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "github.com/mp3converter/mp3converter/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const self = "github.com/mp3converter/mp3converter/internal/testsupport"
	allowed := map[string]bool{"github.com/mp3converter/mp3converter/blobtest": true}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, imp := range f[1:] {
			if imp == self && !allowed[f[0]] {
				t.Errorf("%s imports %s; only tests and conformance suites may", f[0], filepath.Base(self))
			}
		}
	}
}

// Eventually returns once the condition holds, and fails the test, naming
// what it waited for, when the condition never holds.
func TestEventually(t *testing.T) {
	start, calls := time.Now(), 0
	testsupport.Eventually(t, 5*time.Second, "the third call", func() bool { calls++; return calls == 3 })
	if calls != 3 || time.Since(start) > time.Second {
		t.Errorf("%d calls in %v, want 3 at once", calls, time.Since(start))
	}
	ft := &fatalT{TB: t}
	done := make(chan struct{})
	go func() { // Fatalf ends the goroutine, as it ends a test
		defer close(done)
		testsupport.Eventually(ft, 50*time.Millisecond, "never", func() bool { return false })
	}()
	<-done
	if ft.msg != "never: not within 50ms" {
		t.Errorf("failure %q, want %q", ft.msg, "never: not within 50ms")
	}
}

// fatalT records a Fatalf and ends its goroutine, as testing.T does.
type fatalT struct {
	testing.TB
	msg string
}

func (f *fatalT) Helper() {}
func (f *fatalT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
