package testsupport

import (
	"context"
	"database/sql"
	"net/url"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MySQL creates an empty database of a random name on the MySQL or MariaDB
// server of MP3CONVERTER_TEST_MYSQL_URL (default
// mysql://root@127.0.0.1:3306/test, whose database is not used) and returns
// its mysql:// URL. The database is dropped when t ends. It fails the test
// if the server is not there or its user may not CREATE DATABASE.
func MySQL(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	server := env("MP3CONVERTER_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "mysql" || u.Host == "" {
		t.Fatalf("MP3CONVERTER_TEST_MYSQL_URL: want mysql://user:password@host:port/db (%v)", err)
	}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net, cfg.Addr = "tcp", u.Host
	cfg.Timeout = 5 * time.Second
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := admin.PingContext(pingCtx); err != nil {
		t.Fatalf("no MySQL server at %s (start it as .ci/run does, or set MP3CONVERTER_TEST_MYSQL_URL to one whose user may CREATE DATABASE): %v", u.Redacted(), err)
	}
	name := RandomName("mp3test_")
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` DEFAULT CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("create database %s on %s: %v", name, u.Redacted(), err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE `"+name+"`"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}
