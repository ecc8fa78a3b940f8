// Package testsupport is the one place for what tests need besides the code
// they test: a throwaway database or broker per test, random data and
// readers that fail on cue. Every package's tests use it; only tests and the
// conformance suites (blobtest) may import it.
//
// There is one helper per real server (SQLite, MySQL, Broker, FerretDB,
// MongoDB, Mailpit, S3). Each gives the test something of its own, removed when
// the test ends, and takes its address from an MP3CONVERTER_TEST_* variable
// or the default .ci/run starts the server on. A server that is not there
// fails the test, never skips it: CI must not pass without its servers.
package testsupport

import (
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// RandomBytes returns n random bytes. It needs no testing.TB, so goroutines
// may call it.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// RandomName returns prefix followed by ten random lower-case letters and
// digits: a name no other test uses, valid as a database, vhost or node name
// and in an email address.
func RandomName(prefix string) string { return prefix + strings.ToLower(rand.Text()[:10]) }

// FailAfter returns a reader that reads up to n bytes of r and then fails
// with err, as an upload whose client goes away does.
func FailAfter(r io.Reader, n int64, err error) io.Reader {
	return io.MultiReader(io.LimitReader(r, n), iotest.ErrReader(err))
}

// FreeAddr returns a loopback address nothing listens on now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Listening reports whether something accepts TCP connections at addr
// within a second.
func Listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// hostPort adds port to host if it has none.
func hostPort(host, port string) string {
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") || !strings.Contains(host, ":") {
		return host + ":" + port
	}
	return host
}

// waitTCP waits until something listens at addr, failing the test after
// timeout.
func waitTCP(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if Listening(addr) {
			return
		}
	}
	t.Fatalf("nothing listens on %s after %v", addr, timeout)
}

// env returns the variable k, or def if it is unset or empty.
func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// moduleRoot returns the directory of the go.mod above the working
// directory, which go test sets to the package's.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
