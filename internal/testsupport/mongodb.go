package testsupport

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FerretDB starts a FerretDB server (MongoDB wire protocol, SQLite
// backend) of the test's own and returns its mongodb:// URL; the server is
// killed and its files removed when t ends. Use it where a test needs fixed
// database names to itself; use MongoDB for a shared server. The binary is
// MP3CONVERTER_TEST_FERRETDB or .ci/work/ferretdb/bin/ferretdb in the
// module, which scripts/start-ferretdb.sh builds. Without it the test fails.
func FerretDB(t testing.TB) string {
	t.Helper()
	_, url := FerretDBServer(t)
	return url
}

// FerretDBServer is FerretDB, with the server, which the test may stop and
// start again: a GridFS outage.
func FerretDBServer(t testing.TB) (*Server, string) {
	t.Helper()
	bin := os.Getenv("MP3CONVERTER_TEST_FERRETDB")
	if bin == "" {
		bin = filepath.Join(moduleRoot(t), ".ci", "work", "ferretdb", "bin", "ferretdb")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no FerretDB binary at %s (scripts/start-ferretdb.sh builds it, or set MP3CONVERTER_TEST_FERRETDB): %v", bin, err)
	}
	dir, addr := t.TempDir(), FreeAddr(t)
	s := StartServer(t, "ferretdb", addr, bin, "--handler=sqlite", "--sqlite-url=file:"+dir+"/", "--state-dir="+dir,
		"--listen-addr="+addr, "--debug-addr=127.0.0.1:0", "--telemetry=disable", "--log-level=warn")
	return s, "mongodb://" + addr + "/"
}

// MongoDB returns the URL of the shared MongoDB-compatible server,
// MP3CONVERTER_TEST_MONGODB_URL or mongodb://127.0.0.1:27017 (the FerretDB
// scripts/start-ferretdb.sh starts). Tests on it must use databases of
// random names and drop them. It fails the test if nothing listens there.
func MongoDB(t testing.TB) string {
	t.Helper()
	uri := env("MP3CONVERTER_TEST_MONGODB_URL", "mongodb://127.0.0.1:27017")
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("MP3CONVERTER_TEST_MONGODB_URL: %v", err)
	}
	// Only a single host:port can be checked here; the driver checks the rest.
	if u.Scheme == "mongodb" && !strings.Contains(u.Host, ",") && !Listening(hostPort(u.Host, "27017")) {
		t.Fatalf("no MongoDB-compatible server at %s (run scripts/start-ferretdb.sh or set MP3CONVERTER_TEST_MONGODB_URL)", u.Redacted())
	}
	return uri
}
