// Package mysql keeps users and jobs in a MySQL or MariaDB database
// (github.com/go-sql-driver/mysql), for running the roles on several
// machines against one shared database.
//
// It stays compatible with the seed system: the table `user` keeps the
// seed's columns (id, email, password), so the service can be pointed at the
// seed's existing `auth` database; the migrations only add the columns it
// lacks (admin, created_at, token_version), and plain-text seed passwords
// read back as they are. Open applies migrations at start. They are recorded in
// schema_migrations and serialised with GET_LOCK, and every step is safe to
// re-run (MySQL commits DDL implicitly), so several processes may start at
// once against the same database. It works on MariaDB 10.3+ and MySQL 8.
package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/redact"
	"github.com/mp3converter/mp3converter/internal/sqldb"
)

// defaultPort is used when a URL or MYSQL_PORT names none.
const defaultPort = "3306"

// DB is an open MySQL database with the schema applied: its Users, Jobs
// and Webhooks stores, and Ping, whose error wraps mp3converter.ErrUnavailable,
// for readiness probes. The caller closes it.
type DB = sqldb.DB

var (
	_ mp3converter.UserStore    = (*sqldb.UserStore)(nil)
	_ mp3converter.JobStore     = (*sqldb.JobStore)(nil)
	_ mp3converter.WebhookStore = (*sqldb.WebhookStore)(nil)
)

// Open connects to the database named by rawURL, of the form
// mysql://user:password@host:port/dbname?param=value, and migrates it.
// User and password are URL-encoded; the port defaults to 3306; query
// parameters go to the driver (its own options such as tls or timeout, or
// else system variables to set on each connection). Errors never contain the
// password. An unreachable server gives an error wrapping
// mp3converter.ErrUnavailable. The caller closes the DB.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	cfg, err := config(rawURL)
	if err != nil {
		return nil, err
	}
	name := redact.URL(rawURL)
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql %s: %w", name, err)
	}
	db := sql.OpenDB(connector)
	// Servers and proxies drop idle connections; recycle ours before they do,
	// so a quiet service does not meet dead connections.
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	db.SetConnMaxLifetime(3 * time.Minute)
	db.SetConnMaxIdleTime(time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql %s: ping: %w: %w", name, mp3converter.ErrUnavailable, err)
	}
	if err := sqldb.Migrate(ctx, db, lock, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("mysql %s: %w", name, err)
	}
	return sqldb.NewDB(db, sqldb.Dialect{Name: "mysql", ForUpdate: "FOR UPDATE", IsDuplicate: isDuplicate}), nil
}

// DSN returns the go-sql-driver/mysql data source name for rawURL (see
// Open), with this package's defaults: a 5s dial timeout, 30s read and write
// timeouts and the utf8mb4 character set. The DSN holds the password, so it
// must not be logged; the error, which never holds it, serves to validate a
// setting at start. (Open does not go through the DSN text, whose syntax
// cannot hold a user name containing ":".)
func DSN(rawURL string) (string, error) {
	cfg, err := config(rawURL)
	if err != nil {
		return "", err
	}
	return cfg.FormatDSN(), nil
}

// URLFromSeedEnv builds the URL Open takes from the seed's settings
// MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD and MYSQL_DB. An empty
// port means 3306.
func URLFromSeedEnv(host, port, user, password, db string) string {
	if port == "" {
		port = defaultPort
	}
	u := url.URL{Scheme: "mysql", Host: net.JoinHostPort(host, port), Path: "/" + db}
	switch {
	case password != "":
		u.User = url.UserPassword(user, password)
	case user != "":
		u.User = url.User(user)
	}
	return u.String()
}

// defaults are driver parameters applied before the URL's own, which
// override them.
var defaults = []string{
	"timeout=5s",
	"readTimeout=30s",
	"writeTimeout=30s",
	"collation=utf8mb4_unicode_ci", // utf8mb4 for emails and file names
}

// config turns a mysql:// URL into a driver configuration.
func config(rawURL string) (*gomysql.Config, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Opaque != "" {
		return nil, badURL(rawURL)
	}
	name := redact.URL(rawURL)
	switch {
	case u.Scheme != "mysql":
		return nil, fmt.Errorf("mysql URL %s: scheme must be mysql://", name)
	case strayAt(u):
		return nil, fmt.Errorf("mysql URL %s: unexpected @ after the host (percent-encode special characters in user and password)", name)
	case u.Fragment != "":
		return nil, fmt.Errorf("mysql URL %s: unexpected #fragment (percent-encode special characters in user and password)", name)
	case u.Hostname() == "":
		return nil, fmt.Errorf("mysql URL %s: no host", name)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	if dbName == "" || strings.Contains(dbName, "/") {
		return nil, fmt.Errorf("mysql URL %s: want one database name as the path, as in mysql://host/auth", name)
	}
	port := u.Port()
	if port == "" {
		port = defaultPort
	}

	// Let the driver parse the query parameters, after our defaults so that
	// they win. Only parameters go through its DSN syntax: user, password,
	// address and database are set directly, so they need no escaping.
	params := append([]string(nil), defaults...)
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("mysql URL %s: query: %w", name, err)
	}
	for key, values := range query {
		if !validParam(key) {
			return nil, fmt.Errorf("mysql URL %s: bad parameter name %q", name, key)
		}
		switch key {
		case "strict": // the driver panics on it
			return nil, fmt.Errorf("mysql URL %s: parameter strict was removed from the driver; set sql_mode instead", name)
		case "multiStatements": // one statement per query, so injected SQL cannot stack statements
			return nil, fmt.Errorf("mysql URL %s: parameter multiStatements is not supported", name)
		}
		for _, v := range values {
			params = append(params, key+"="+url.QueryEscape(v))
		}
	}
	cfg, err := gomysql.ParseDSN("/?" + strings.Join(params, "&"))
	if err != nil {
		return nil, fmt.Errorf("mysql URL %s: %w", name, err)
	}
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(u.Hostname(), port)
	cfg.DBName = dbName
	cfg.MultiStatements = false
	return cfg, nil
}

// validParam reports whether key can pass through the driver's DSN syntax.
func validParam(key string) bool {
	if key == "" {
		return false
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// strayAt reports an "@" after the host: url.Parse ends the authority at
// the first "/", "?" or "#", so an unescaped one in a password leaves the
// password's tail, and the real "@", in the path, query or fragment.
func strayAt(u *url.URL) bool {
	return strings.Contains(u.EscapedPath(), "@") || strings.Contains(u.RawQuery, "@") || strings.Contains(u.Fragment, "@")
}

// badURL reports a URL that url.Parse rejects. url.Parse's own error quotes
// its input, password included, so it is only used for the redacted URL.
func badURL(rawURL string) error {
	name := redact.URL(rawURL)
	u, err := url.Parse(name)
	var uerr *url.Error
	switch {
	case errors.As(err, &uerr):
		return fmt.Errorf("mysql URL %s: %w", name, uerr.Err)
	case err == nil && u.Opaque != "":
		return fmt.Errorf("mysql URL %s: want mysql://user:password@host:port/dbname", name)
	default:
		return fmt.Errorf("mysql URL %s: bad user or password (percent-encode special characters)", name)
	}
}

// lock holds a server-wide named lock while migrating, so that processes
// starting at once migrate one after another. GET_LOCK belongs to the
// connection: it is released on that connection, or when it closes.
func lock(ctx context.Context, conn *sql.Conn) (func(), error) {
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, `SELECT GET_LOCK('mp3converter_migrate', 30)`).Scan(&got); err != nil {
		return nil, err
	}
	if got.Int64 != 1 {
		return nil, errors.New("another process held the migration lock mp3converter_migrate for 30s")
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		var released sql.NullInt64
		err := conn.QueryRowContext(ctx, `SELECT RELEASE_LOCK('mp3converter_migrate')`).Scan(&released)
		if err != nil || released.Int64 != 1 {
			// Do not return a connection that may still hold the lock to the
			// pool: closing it releases the lock.
			conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}, nil
}

func isDuplicate(err error) bool {
	var e *gomysql.MySQLError
	return errors.As(err, &e) && e.Number == 1062 // ER_DUP_ENTRY
}

var migrations = []sqldb.Migration{
	{
		Version: 1,
		SQL: []string{
			// Exactly the seed's table, which may already exist.
			`CREATE TABLE IF NOT EXISTS user (
				id INT AUTO_INCREMENT PRIMARY KEY,
				email VARCHAR(255) NOT NULL UNIQUE,
				password VARCHAR(255) NOT NULL
			) DEFAULT CHARSET=utf8mb4`,
			// TEXT columns take no DEFAULT before MySQL 8.0.13; sqldb always
			// sets error.
			`CREATE TABLE IF NOT EXISTS job (
				id CHAR(24) NOT NULL PRIMARY KEY,
				owner VARCHAR(255) NOT NULL,
				status VARCHAR(16) NOT NULL,
				filename VARCHAR(1024) NOT NULL DEFAULT '',
				video_fid CHAR(24) NOT NULL,
				mp3_fid CHAR(24) NULL UNIQUE,
				error TEXT NOT NULL,
				attempts INT NOT NULL DEFAULT 0,
				progress DOUBLE NOT NULL DEFAULT 0,
				duration DOUBLE NOT NULL DEFAULT 0,
				size BIGINT NOT NULL DEFAULT 0,
				mp3_size BIGINT NOT NULL DEFAULT 0,
				copied TINYINT(1) NOT NULL DEFAULT 0,
				created_at BIGINT NOT NULL,
				updated_at BIGINT NOT NULL,
				notified_at BIGINT NULL,
				INDEX job_owner_created (owner, created_at),
				INDEX job_status_updated (status, updated_at)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		},
		Func: func(ctx context.Context, conn *sql.Conn) error {
			// Add what the seed's table lacks. information_schema rather
			// than MariaDB's ADD COLUMN IF NOT EXISTS, which MySQL lacks.
			if err := addColumn(ctx, conn, "user", "admin", "TINYINT(1) NOT NULL DEFAULT 0"); err != nil {
				return err
			}
			return addColumn(ctx, conn, "user", "created_at", "BIGINT NOT NULL DEFAULT 0")
		},
	},
	{
		// The gateway's job feed polls for rows changed since its last look.
		Version: 2,
		Func: func(ctx context.Context, conn *sql.Conn) error {
			// MySQL has no CREATE INDEX IF NOT EXISTS.
			return unlessFound(ctx, conn, "index job.job_updated", `SELECT COUNT(*) FROM information_schema.STATISTICS
				WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'job' AND INDEX_NAME = 'job_updated'`, nil,
				"CREATE INDEX job_updated ON job (updated_at)")
		},
	},
	{
		// Webhooks, and their deliveries: an outbox that outlives restarts.
		// An event is recorded once per webhook, whoever records it again.
		Version: 3,
		SQL: []string{
			`CREATE TABLE IF NOT EXISTS webhook (
				id CHAR(24) NOT NULL PRIMARY KEY,
				owner VARCHAR(255) NOT NULL,
				url VARCHAR(2048) NOT NULL,
				secret VARCHAR(128) NOT NULL,
				created_at BIGINT NOT NULL,
				INDEX webhook_owner_created (owner, created_at)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
			`CREATE TABLE IF NOT EXISTS webhook_delivery (
				id VARCHAR(64) NOT NULL PRIMARY KEY,
				webhook_id CHAR(24) NOT NULL,
				job_id VARCHAR(64) NOT NULL,
				event VARCHAR(32) NOT NULL,
				payload MEDIUMBLOB NOT NULL,
				status VARCHAR(16) NOT NULL,
				attempts INT NOT NULL DEFAULT 0,
				http_status INT NOT NULL DEFAULT 0,
				error TEXT NOT NULL,
				created_at BIGINT NOT NULL,
				attempted_at BIGINT NOT NULL DEFAULT 0,
				next_at BIGINT NOT NULL,
				lease_token VARCHAR(32) NOT NULL DEFAULT '',
				UNIQUE KEY webhook_delivery_event (webhook_id, job_id, event),
				INDEX webhook_delivery_due (status, next_at),
				INDEX webhook_delivery_created (webhook_id, created_at)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		},
	},
	{
		// The options each job was uploaded with, as JSON
		// (mp3converter.Options); NULL for the defaults and for the
		// original gateway's jobs.
		Version: 4,
		Func: func(ctx context.Context, conn *sql.Conn) error {
			return addColumn(ctx, conn, "job", "options", "TEXT NULL")
		},
	},
	{
		// The version each account's tokens must carry: logout and a new
		// password raise it, revoking the tokens issued before. The
		// original auth neither reads nor writes it.
		Version: 5,
		Func: func(ctx context.Context, conn *sql.Conn) error {
			return addColumn(ctx, conn, "user", "token_version", "BIGINT NOT NULL DEFAULT 0")
		},
	},
	{Version: 6, SQL: sqldb.LowerOwners},
	{
		// The limits every gateway shares (sqldb.Limits).
		Version: 7,
		SQL: []string{
			`CREATE TABLE IF NOT EXISTS limit_lock (
				name VARCHAR(600) NOT NULL PRIMARY KEY,
				touched_at BIGINT NOT NULL
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
			`CREATE TABLE IF NOT EXISTS limit_event (
				id VARCHAR(32) NOT NULL,
				name VARCHAR(600) NOT NULL,
				at BIGINT NOT NULL,
				INDEX limit_event_name_at (name, at),
				INDEX limit_event_id (id)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
			`CREATE TABLE IF NOT EXISTS limit_lease (
				id VARCHAR(32) NOT NULL PRIMARY KEY,
				kind VARCHAR(32) NOT NULL,
				owner VARCHAR(300) NOT NULL,
				holder VARCHAR(32) NOT NULL,
				expires_at BIGINT NOT NULL,
				INDEX limit_lease_owner (kind, owner, expires_at),
				INDEX limit_lease_holder (holder)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
		},
	},
	{
		// Deletions, for a while, so that every gateway's feed tells its
		// streams (JobStore.DeletedSince).
		Version: 8,
		SQL: []string{
			`CREATE TABLE IF NOT EXISTS job_deleted (
				id VARCHAR(64) NOT NULL,
				owner VARCHAR(255) NOT NULL,
				deleted_at BIGINT NOT NULL,
				INDEX job_deleted_at (deleted_at)
			) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
		},
	},
}

// addColumn adds a column to a table of the current database unless it is
// there already.
func addColumn(ctx context.Context, conn *sql.Conn, table, column, definition string) error {
	return unlessFound(ctx, conn, "column "+table+"."+column, `SELECT COUNT(*) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`, []any{table, column},
		"ALTER TABLE `"+table+"` ADD COLUMN `"+column+"` "+definition)
}

// unlessFound runs stmt, which adds what, unless count finds it there.
func unlessFound(ctx context.Context, conn *sql.Conn, what, count string, args []any, stmt string) error {
	var n int
	if err := conn.QueryRowContext(ctx, count, args...).Scan(&n); err != nil {
		return fmt.Errorf("look for %s: %w", what, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}
