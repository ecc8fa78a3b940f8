package mysql_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/mysql"
)

// parseDSN turns rawURL into a driver config through DSN, as Open would.
func parseDSN(t *testing.T, rawURL string) *gomysql.Config {
	t.Helper()
	dsn, err := mysql.DSN(rawURL)
	if err != nil {
		t.Fatalf("DSN(%q): %v", rawURL, err)
	}
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("DSN(%q) = %q, which the driver rejects: %v", rawURL, dsn, err)
	}
	return cfg
}

// dsnTests are TestDSN's cases: a URL, the driver config fields it must
// give and, optionally, further checks.
var dsnTests = []struct {
	name, url                    string
	user, password, addr, dbName string
	check                        func(t *testing.T, cfg *gomysql.Config)
}{
	{
		name: "defaults", url: "mysql://root@127.0.0.1:3306/test",
		user: "root", addr: "127.0.0.1:3306", dbName: "test",
		check: func(t *testing.T, cfg *gomysql.Config) {
			if cfg.Net != "tcp" || cfg.Timeout != 5*time.Second || cfg.ReadTimeout != 30*time.Second || cfg.WriteTimeout != 30*time.Second {
				t.Errorf("net %q, timeouts %v/%v/%v", cfg.Net, cfg.Timeout, cfg.ReadTimeout, cfg.WriteTimeout)
			}
			if cfg.Collation != "utf8mb4_unicode_ci" || cfg.MultiStatements || len(cfg.Params) != 0 {
				t.Errorf("collation %q, multiStatements %v, params %v", cfg.Collation, cfg.MultiStatements, cfg.Params)
			}
		},
	},
	{
		name: "special characters", url: "mysql://app%40corp:p%40ss%3Aw%2Frd@db.example.com:3307/auth",
		user: "app@corp", password: "p@ss:w/rd", addr: "db.example.com:3307", dbName: "auth",
	},
	{
		name: "more special characters", url: "mysql://u:%25%23%3F%20+%26%3D%28%29@db/auth",
		user: "u", password: "%#? +&=()", addr: "db:3306", dbName: "auth",
	},
	{
		name: "missing port", url: "mysql://u:pw@mysql/auth",
		user: "u", password: "pw", addr: "mysql:3306", dbName: "auth",
	},
	{
		name: "ipv6", url: "mysql://u@[::1]:3307/auth",
		user: "u", addr: "[::1]:3307", dbName: "auth",
	},
	{
		name: "ipv6 missing port", url: "mysql://u@[::1]/auth",
		user: "u", addr: "[::1]:3306", dbName: "auth",
	},
	{
		name: "no user", url: "mysql://db/auth",
		addr: "db:3306", dbName: "auth",
	},
	{
		name: "escaped database name", url: "mysql://u@db/my%2Ddb",
		user: "u", addr: "db:3306", dbName: "my-db",
	},
	{
		name: "params pass through and override defaults",
		url:  "mysql://u@db/auth?tls=skip-verify&timeout=1s&sql_mode=%27ANSI_QUOTES%27&time_zone=%27%2B00%3A00%27",
		user: "u", addr: "db:3306", dbName: "auth",
		check: func(t *testing.T, cfg *gomysql.Config) {
			if cfg.TLSConfig != "skip-verify" || cfg.Timeout != time.Second || cfg.ReadTimeout != 30*time.Second {
				t.Errorf("tls %q, timeout %v, read timeout %v", cfg.TLSConfig, cfg.Timeout, cfg.ReadTimeout)
			}
			if cfg.Params["sql_mode"] != "'ANSI_QUOTES'" || cfg.Params["time_zone"] != "'+00:00'" {
				t.Errorf("params %v", cfg.Params)
			}
		},
	},
	{
		name: "collation override", url: "mysql://u@db/auth?collation=utf8mb4_bin",
		user: "u", addr: "db:3306", dbName: "auth",
		check: func(t *testing.T, cfg *gomysql.Config) {
			if cfg.Collation != "utf8mb4_bin" {
				t.Errorf("collation %q", cfg.Collation)
			}
		},
	},
}

func TestDSN(t *testing.T) {
	for _, tt := range dsnTests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parseDSN(t, tt.url)
			if cfg.User != tt.user || cfg.Passwd != tt.password || cfg.Addr != tt.addr || cfg.DBName != tt.dbName {
				t.Errorf("user %q password %q addr %q db %q, want %q %q %q %q",
					cfg.User, cfg.Passwd, cfg.Addr, cfg.DBName, tt.user, tt.password, tt.addr, tt.dbName)
			}
			if tt.check != nil {
				tt.check(t, cfg)
			}
		})
	}
}

func TestDSNErrors(t *testing.T) {
	const secret = "S3CRET"
	tests := []struct{ name, url, want string }{
		{"bad scheme", "postgres://root:" + secret + "@db/auth", "scheme"},
		{"no scheme", "root:" + secret + "@db/auth", "mysql://"},
		{"no database", "mysql://root:" + secret + "@db", "database name"},
		{"no database, slash", "mysql://root:" + secret + "@db/", "database name"},
		{"nested path", "mysql://root:" + secret + "@db/a/b", "database name"},
		{"no host", "mysql://root:" + secret + "@/auth", "no host"},
		{"bad port", "mysql://root:" + secret + "@db:port/auth", "port"},
		{"bad escape in password", "mysql://root:" + secret + "%zz@db/auth", "user or password"},
		{"unescaped slash in password", "mysql://root:" + secret + "/x@db/auth", "user or password"},
		{"unescaped slash in password after digits", "mysql://root:12/" + secret + "@db/auth", "@"},
		{"unescaped question mark in password", "mysql://root:12?" + secret + "@db/auth", "@"},
		{"unescaped hash in password", "mysql://root:12#" + secret + "@db/auth", "@"},
		{"unescaped hash in password, no digits", "mysql://root:a#" + secret + "@db/auth", "user or password"},
		{"forgotten @", "mysql://root:" + secret + "/auth", "port"},
		{"fragment", "mysql://root:" + secret + "@db/auth#x", "fragment"},
		{"bad driver param", "mysql://root:" + secret + "@db/auth?timeout=soon", "soon"},
		{"bad param name", "mysql://root:" + secret + "@db/auth?a%26b=1", "parameter name"},
		{"strict", "mysql://root:" + secret + "@db/auth?strict=true", "strict"},
		{"multiStatements", "mysql://root:" + secret + "@db/auth?multiStatements=true", "multiStatements"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn, err := mysql.DSN(tt.url)
			if err == nil {
				t.Fatalf("DSN(%q) = %q, want an error", tt.url, dsn)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "S3C") {
				t.Errorf("error reveals the password: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

// TestOpenUnreachable needs no server: nothing listens on port 1.
func TestOpenUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := mysql.Open(ctx, "mysql://root:S3CRET@127.0.0.1:1/auth")
	if !errors.Is(err, mp3converter.ErrUnavailable) {
		t.Errorf("Open of a closed port: %v, want ErrUnavailable", err)
	}
	if err != nil && strings.Contains(err.Error(), "S3CRET") {
		t.Errorf("error reveals the password: %v", err)
	}
}

func TestURLFromSeedEnv(t *testing.T) {
	tests := []struct {
		host, port, user, password, db string
		want                           string
		wantAddr                       string
	}{
		{"mysql", "", "root", "Admin123", "auth", "mysql://root:Admin123@mysql:3306/auth", "mysql:3306"},
		{"db.example.com", "3307", "app", "", "auth", "mysql://app@db.example.com:3307/auth", "db.example.com:3307"},
		{"localhost", "", "", "", "auth", "mysql://localhost:3306/auth", "localhost:3306"},
		{"::1", "3306", "root", "x", "auth", "mysql://root:x@[::1]:3306/auth", "[::1]:3306"},
		{"mysql", "", "us@er", "p@ss:w/rd", "auth", "", "mysql:3306"},
		{"mysql", "", "root", "%#? +&=()/:@;$,", "auth", "", "mysql:3306"},
	}
	for _, tt := range tests {
		got := mysql.URLFromSeedEnv(tt.host, tt.port, tt.user, tt.password, tt.db)
		if tt.want != "" && got != tt.want {
			t.Errorf("URLFromSeedEnv(%q, %q, %q, %q, %q) = %q, want %q", tt.host, tt.port, tt.user, tt.password, tt.db, got, tt.want)
		}
		cfg := parseDSN(t, got)
		if cfg.User != tt.user || cfg.Passwd != tt.password || cfg.Addr != tt.wantAddr || cfg.DBName != tt.db {
			t.Errorf("URLFromSeedEnv(...) = %q, read back as user %q password %q addr %q db %q",
				got, cfg.User, cfg.Passwd, cfg.Addr, cfg.DBName)
		}
	}
}
