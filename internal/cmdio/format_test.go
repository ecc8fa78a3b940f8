package cmdio_test

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter/internal/cmdio"
)

// TestBytes: the page's answers (node ran httpapi/web/app.js's bytes on
// these), ties rounded up as toFixed does, and 999999 shown as the page
// shows it.
func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		-5: "0 B", 0: "0 B", 1: "1 B", 999: "999 B", 1000: "1.0 KB", 1049: "1.0 KB", 1050: "1.1 KB",
		1250: "1.3 KB", 1949: "1.9 KB", 1950: "1.9 KB", 9949: "9.9 KB", 9950: "9.9 KB", 9999: "10.0 KB",
		10000: "10 KB", 12500: "13 KB", 99999: "100 KB", 999499: "999 KB", 999500: "1000 KB",
		999999: "1000 KB", 1000000: "1.0 MB", 1250000: "1.3 MB", 1e9: "1.0 GB", 1e9 - 1: "1000 MB",
		1e12: "1.0 TB", 1e15: "1000 TB", 123456789012345: "123 TB",
	} {
		if got := cmdio.Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := cmdio.Rate(1234567.8); got != "1.2 MB/s" {
		t.Errorf("Rate = %q", got)
	}
}

// TestBytesLikeThePage runs the page's own formatter, from app.js, under
// node on the edges of every unit and on random sizes, and wants the same
// text from Bytes. Node is a tool the tests need, as ffmpeg is (.ci/run
// installs it): without it the test fails.
func TestBytesLikeThePage(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (apt-get install nodejs): %v", err)
	}
	src, err := os.ReadFile("../../httpapi/web/app.js")
	if err != nil {
		t.Fatal(err)
	}
	fn := regexp.MustCompile(`(?s)function bytes\(n\) \{.*?\n\}`).Find(src)
	if fn == nil {
		t.Fatal("app.js has no function bytes(n): the test must follow it")
	}
	var ns []int64
	for p := int64(1); p <= 1e15; p *= 10 {
		for _, d := range []int64{-1, 0, 1, p / 2, p/20 - 1, p / 20, p/20 + 1, p/200 - 1, p / 200} {
			ns = append(ns, p+d, 999*p/100+d, 95*p/10+d)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		ns = append(ns, r.Int64N(1<<uint(r.IntN(50)+1)))
	}
	in, _ := json.Marshal(ns)
	script := string(fn) + "\nfor (const n of " + string(in) + ") console.log(bytes(n));"
	out, err := exec.Command(node, "-e", script).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(ns) {
		t.Fatalf("node printed %d lines for %d sizes", len(lines), len(ns))
	}
	bad := 0
	for i, n := range ns {
		if got := cmdio.Bytes(n); got != lines[i] && bad < 10 {
			bad++
			t.Errorf("Bytes(%d) = %q, the page says %q", n, got, lines[i])
		}
	}
}

func TestDuration(t *testing.T) {
	for s, want := range map[float64]string{0: "-", 0.4: "0:00", 4.5: "0:05", 59.6: "1:00", 750: "12:30", 3723: "1:02:03"} {
		if got := cmdio.Duration(s); got != want {
			t.Errorf("Duration(%v) = %q, want %q", s, got, want)
		}
	}
}
