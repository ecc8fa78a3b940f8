package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/mp3converter/mp3converter"
)

// UserStore keeps users in the table `user`, whose first three columns are
// the seed's (id, email, password); ours (admin, created_at, token_version)
// have defaults, so the original auth's rows and inserts still fit.
type UserStore struct {
	DB      *sql.DB
	Dialect Dialect
}

var _ mp3converter.UserStore = (*UserStore)(nil)

// CreateUser implements mp3converter.UserStore.
func (s *UserStore) CreateUser(ctx context.Context, u *mp3converter.User) error {
	if u.CreatedAt.IsZero() {
		u.CreatedAt = time.Now().UTC()
	}
	res, err := s.DB.ExecContext(ctx, `INSERT INTO user (email, password, admin, created_at, token_version) VALUES (?, ?, ?, ?, ?)`,
		u.Email, u.PasswordHash, u.Admin, micros(u.CreatedAt), u.TokenVersion)
	if err != nil {
		if s.Dialect.IsDuplicate(err) {
			return fmt.Errorf("create user %s: %w", u.Email, mp3converter.ErrConflict)
		}
		return unavailable("create user", err)
	}
	u.ID, err = res.LastInsertId()
	return err
}

const userColumns = `id, email, password, admin, created_at, token_version`

func scanUser(row interface{ Scan(...any) error }) (*mp3converter.User, error) {
	var u mp3converter.User
	var created int64
	if err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Admin, &created, &u.TokenVersion); err != nil {
		return nil, err
	}
	u.CreatedAt = fromMicros(created)
	return &u, nil
}

// UserByEmail implements mp3converter.UserStore.
func (s *UserStore) UserByEmail(ctx context.Context, email string) (*mp3converter.User, error) {
	return queryOne(ctx, s.DB, "user "+email, scanUser, `SELECT `+userColumns+` FROM user WHERE email = ?`, email)
}

// ListUsers implements mp3converter.UserStore.
func (s *UserStore) ListUsers(ctx context.Context) ([]*mp3converter.User, error) {
	return queryAll(ctx, s.DB, "list users", scanUser, `SELECT `+userColumns+` FROM user ORDER BY email`)
}

// SetPasswordHash implements mp3converter.UserStore.
func (s *UserStore) SetPasswordHash(ctx context.Context, email, hash string) error {
	return s.execOne(ctx, "set password", email, `UPDATE user SET password = ? WHERE email = ?`, hash, email)
}

// SetPassword implements mp3converter.UserStore.
func (s *UserStore) SetPassword(ctx context.Context, email, hash string) error {
	return s.execOne(ctx, "set password", email, `UPDATE user SET password = ?, token_version = token_version + 1 WHERE email = ?`, hash, email)
}

// RevokeTokens implements mp3converter.UserStore.
func (s *UserStore) RevokeTokens(ctx context.Context, email string) error {
	return s.execOne(ctx, "revoke tokens", email, `UPDATE user SET token_version = token_version + 1 WHERE email = ?`, email)
}

// DeleteUser implements mp3converter.UserStore. The user's webhooks go too.
func (s *UserStore) DeleteUser(ctx context.Context, email string) error {
	return InTx(ctx, s.DB, func(tx *sql.Tx) error {
		if err := deleteOwnerWebhooks(ctx, tx, email); err != nil {
			return err
		}
		return deleteOne(ctx, tx, "user "+email, `DELETE FROM user WHERE email = ?`, email)
	})
}

func (s *UserStore) execOne(ctx context.Context, op, email, query string, args ...any) error {
	res, err := s.DB.ExecContext(ctx, query, args...)
	if err != nil {
		return unavailable(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return unavailable(op, err)
	} else if n == 0 {
		// MySQL counts changed rows, so an unchanged hash also gives 0.
		if _, err := s.UserByEmail(ctx, email); err != nil {
			return err
		}
	}
	return nil
}
