//go:build integration

package testsupport_test

import (
	"database/sql"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// TestIntegrationServers checks that each server helper gives a usable
// server and removes what it made.
func TestIntegrationServers(t *testing.T) {
	t.Run("MySQL", func(t *testing.T) {
		removed(t, func(t *testing.T) *url.URL {
			u := parse(t, testsupport.MySQL(t))
			if n := mysqlCount(t, u, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()"); n != 1 {
				t.Errorf("the URL's database does not exist")
			}
			return u
		}, func(u *url.URL) bool {
			return mysqlCount(t, u, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '"+strings.TrimPrefix(u.Path, "/")+"'") != 0
		})
	})

	t.Run("Broker", func(t *testing.T) {
		removed(t, func(t *testing.T) *url.URL {
			u := parse(t, testsupport.Broker(t))
			if !hasVhost(t, strings.TrimPrefix(u.Path, "/")) {
				t.Errorf("no vhost %s", u.Path)
			}
			return u
		}, func(u *url.URL) bool { return hasVhost(t, strings.TrimPrefix(u.Path, "/")) })
	})

	t.Run("FerretDB", func(t *testing.T) {
		removed(t, func(t *testing.T) *url.URL {
			u := parse(t, testsupport.FerretDB(t))
			if !testsupport.Listening(u.Host) {
				t.Errorf("nothing listens at %s", u.Host)
			}
			return u
		}, func(u *url.URL) bool { return testsupport.Listening(u.Host) })
	})

	t.Run("MongoDB", func(t *testing.T) { testsupport.MongoDB(t) })

	t.Run("S3", func(t *testing.T) {
		removed(t, func(t *testing.T) *url.URL {
			u := parse(t, testsupport.S3(t).Endpoint)
			if !testsupport.Listening(u.Host) {
				t.Errorf("nothing listens at %s", u.Host)
			}
			return u
		}, func(u *url.URL) bool { return testsupport.Listening(u.Host) })
	})

	t.Run("Mailpit", func(t *testing.T) {
		smtpAddr, api := testsupport.Mailpit(t)
		if !testsupport.Listening(smtpAddr) {
			t.Errorf("Mailpit's SMTP is not at %s", smtpAddr)
		}
		if got := testsupport.MailpitInbox(t, api, testsupport.RandomName("nobody-")+"@example.com"); len(got) != 0 {
			t.Errorf("mail for a new address: %v", got)
		}
	})
}

// removed runs use in a subtest and checks, once that subtest has cleaned
// up, that what it made no longer exists.
func removed(t *testing.T, use func(t *testing.T) *url.URL, exists func(*url.URL) bool) {
	t.Helper()
	var u *url.URL
	t.Run("use", func(t *testing.T) { u = use(t) })
	if u != nil && exists(u) {
		t.Errorf("%s left after the test", u.Redacted())
	}
}

func parse(t *testing.T, rawURL string) *url.URL {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// mysqlCount runs a COUNT query on the server of u as u's user.
func mysqlCount(t *testing.T, u *url.URL, query string) int {
	t.Helper()
	cfg := gomysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net, cfg.Addr, cfg.DBName = "tcp", u.Host, strings.TrimPrefix(u.Path, "/")
	if !strings.Contains(query, "DATABASE()") {
		cfg.DBName = ""
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func hasVhost(t *testing.T, name string) bool {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", "list_vhosts", "--quiet").CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl list_vhosts: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.TrimSpace(line) == name {
			return true
		}
	}
	return false
}
