package testsupport

import (
	"os"
	"path/filepath"
	"testing"
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
// test's own, which the test may Stop and Start again. It signs with
// S3AccessKey and S3SecretKey.
type S3Server struct {
	*Server
	// Endpoint is its http:// URL.
	Endpoint string
	// URL is s3://BUCKET?endpoint=Endpoint for a bucket of a random name,
	// not yet created.
	URL string
	// DataDir is the posix backend's directory: each bucket is a
	// directory in it, each object a file.
	DataDir string
}

// S3 starts a versitygw server of the test's own on a free port, with its
// data in a temporary directory, and waits until it answers; it is stopped
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
	data, addr := filepath.Join(t.TempDir(), "data"), FreeAddr(t)
	if err := os.Mkdir(data, 0o750); err != nil {
		t.Fatal(err)
	}
	srv := StartServer(t, "versitygw", addr, bin, "--port", addr, "--access", S3AccessKey, "--secret", S3SecretKey,
		"--quiet", "posix", data)
	return &S3Server{Server: srv, Endpoint: "http://" + addr, DataDir: data,
		URL: "s3://" + RandomName("mp3test-") + "?endpoint=http://" + addr}
}
