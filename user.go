package mp3converter

import (
	"context"
	"time"
)

// User is an account that may sign in. Email is the identity: it is the
// JWT's username claim and the address notifications go to.
type User struct {
	ID           int64
	Email        string
	PasswordHash string // bcrypt; a legacy seed row may hold plain text until its next login
	Admin        bool
	CreatedAt    time.Time
	// TokenVersion is the version the account's tokens must carry: raising
	// it revokes every token issued before. It starts at 0.
	TokenVersion int64
}

// UserStore keeps users. Emails are compared as stored; callers normalise
// them (see NormalizeEmail).
type UserStore interface {
	// CreateUser stores u and sets u.ID and u.CreatedAt. It returns
	// ErrConflict when the email is taken.
	CreateUser(ctx context.Context, u *User) error
	// UserByEmail returns ErrNotFound when there is no such user.
	UserByEmail(ctx context.Context, email string) (*User, error)
	// ListUsers returns all users ordered by email.
	ListUsers(ctx context.Context) ([]*User, error)
	// SetPasswordHash replaces a user's password hash, leaving their tokens
	// valid: for re-hashing the same password. ErrNotFound if absent.
	SetPasswordHash(ctx context.Context, email, hash string) error
	// SetPassword replaces a user's password hash and raises their
	// TokenVersion at once: a new password revokes every token issued
	// before. ErrNotFound if absent.
	SetPassword(ctx context.Context, email, hash string) error
	// RevokeTokens raises a user's TokenVersion; ErrNotFound if absent.
	RevokeTokens(ctx context.Context, email string) error
	// DeleteUser removes a user; ErrNotFound if absent.
	DeleteUser(ctx context.Context, email string) error
}
