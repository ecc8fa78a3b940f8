//go:build integration

package main

import (
	"crypto/rand"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

// Real engines for the multi-process tests. Each test gets its own MySQL
// database, RabbitMQ vhost and FerretDB server, so tests never see each
// other's files or messages. A missing engine fails the test.

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func randomName(prefix string) string { return prefix + strings.ToLower(rand.Text()[:10]) }

// newMySQLDatabase creates a database and returns its mysql:// URL.
func newMySQLDatabase(t *testing.T) string {
	t.Helper()
	base := envOr("MP3CONVERTER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := u.User.Password()
	dsn := fmt.Sprintf("%s:%s@tcp(%s)/", u.User.Username(), pass, u.Host)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := randomName("mp3test_")
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("MySQL at %s is not usable (start it as .ci/run does): %v", u.Host, err)
	}
	t.Cleanup(func() {
		if db, err := sql.Open("mysql", dsn); err == nil {
			db.Exec("DROP DATABASE " + name)
			db.Close()
		}
	})
	u.Path = "/" + name
	return u.String()
}

// newVhost creates a RabbitMQ vhost on the shared broker and returns an
// amqp:// URL for it, so the test can use the seed's queue names.
func newVhost(t *testing.T) string {
	t.Helper()
	base := envOr("MP3CONVERTER_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	vhost := randomName("mp3test-")
	rabbitmqctl(t, "", "add_vhost", vhost)
	t.Cleanup(func() { exec.Command("rabbitmqctl", "delete_vhost", vhost).Run() })
	rabbitmqctl(t, "", "set_permissions", "-p", vhost, u.User.Username(), ".*", ".*", ".*")
	u.Path = "/" + vhost
	return u.String()
}

func rabbitmqctl(t *testing.T, node string, args ...string) {
	t.Helper()
	if node != "" {
		args = append([]string{"-n", node}, args...)
	}
	out, err := exec.Command("rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
}

// startFerretDB starts a FerretDB server of the test's own and returns its
// mongodb:// URL. The binary comes from MP3CONVERTER_TEST_FERRETDB or
// .ci/work/ferretdb/bin/ferretdb (scripts/start-ferretdb.sh builds it).
func startFerretDB(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("MP3CONVERTER_TEST_FERRETDB")
	if bin == "" {
		bin, _ = filepath.Abs("../../.ci/work/ferretdb/bin/ferretdb")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no FerretDB binary at %s (scripts/start-ferretdb.sh builds it): %v", bin, err)
	}
	dir := t.TempDir()
	addr := freePort(t)
	cmd := exec.Command(bin, "--handler=sqlite", "--sqlite-url=file:"+dir+"/", "--state-dir="+dir,
		"--listen-addr="+addr, "--debug-addr=127.0.0.1:0", "--telemetry=disable", "--log-level=warn")
	out, _ := os.Create(filepath.Join(dir, "ferretdb.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); out.Close() })
	waitTCP(t, addr, 30*time.Second)
	return "mongodb://" + addr + "/"
}

func tcpOpen(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func waitTCP(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s after %v", addr, timeout)
}
