package testsupport

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The credentials of the S3 servers tests start: test-only, like the
// guest user of the test RabbitMQ.
const (
	S3AccessKey = "mp3converter"
	S3SecretKey = "mp3converter-secret"
)

// VersitygwVersion is the versitygw that scripts/start-s3.sh builds.
const VersitygwVersion = "v1.8.0"

// S3Server is an S3-compatible server (versitygw, posix backend) of a
// test's own. It signs with S3AccessKey and S3SecretKey.
type S3Server struct {
	// Endpoint is its http:// URL.
	Endpoint string
	// URL is s3://BUCKET?endpoint=Endpoint for a bucket of a random name,
	// not yet created.
	URL string
	// DataDir is the posix backend's directory: each bucket is a
	// directory in it, each object a file.
	DataDir string

	t    testing.TB
	bin  string
	dir  string
	addr string
	cmd  *exec.Cmd
	log  *os.File
}

// S3 starts a versitygw server of the test's own on a free port, with its
// data in a temporary directory, and waits until it answers; it is killed
// when t ends. The binary is MP3CONVERTER_TEST_VERSITYGW or the one
// scripts/start-s3.sh builds into the CI cache,
// ${MP3CONVERTER_CI_CACHE:-~/.cache/mp3converter-ci}/versitygw/VERSION/bin/versitygw.
// Without it the test fails.
func S3(t testing.TB) *S3Server {
	t.Helper()
	bin := os.Getenv("MP3CONVERTER_TEST_VERSITYGW")
	if bin == "" {
		cache := os.Getenv("MP3CONVERTER_CI_CACHE")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				t.Fatal(err)
			}
			cache = filepath.Join(home, ".cache", "mp3converter-ci")
		}
		bin = filepath.Join(cache, "versitygw", VersitygwVersion, "bin", "versitygw")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no versitygw binary at %s (scripts/start-s3.sh builds it, or set MP3CONVERTER_TEST_VERSITYGW): %v", bin, err)
	}
	s := &S3Server{t: t, bin: bin, dir: t.TempDir(), addr: FreeAddr(t)}
	s.DataDir = filepath.Join(s.dir, "data")
	if err := os.Mkdir(s.DataDir, 0o750); err != nil {
		t.Fatal(err)
	}
	s.Endpoint = "http://" + s.addr
	s.URL = "s3://" + RandomName("mp3test-") + "?endpoint=" + s.Endpoint
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// Start starts the server again after Stop, on the same address with the
// same data, and waits until it answers. It does nothing if it runs.
func (s *S3Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	out, err := os.OpenFile(filepath.Join(s.dir, "versitygw.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "--port", s.addr, "--access", S3AccessKey, "--secret", S3SecretKey,
		"--quiet", "posix", s.DataDir)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		s.t.Fatal(err)
	}
	s.cmd, s.log = cmd, out
	waitTCP(s.t, s.addr, 30*time.Second)
}

// Stop kills the server, for a test of an outage; Start starts it again.
// It does nothing if the server is stopped.
func (s *S3Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.log.Close()
	s.cmd, s.log = nil, nil
}
