// Package auth signs users in and checks their tokens.
//
// Passwords are stored as bcrypt hashes. A seed database row may still hold
// a plain-text password: it is accepted once, compared in constant time, and
// replaced by a hash on that login. Tokens are HS256 JWTs with the seed's
// claims (username, admin, iat, exp); only HS256 is accepted, exp is
// required, and a token is refused once its user is deleted. A validly signed
// token is still refused if it has a crit header or a time claim that is
// not a number. Tokens of ours also carry the account's token version, which
// Revoke (logout) and a new password raise: the tokens issued before are
// refused from then on, at no extra query, as Verify reads the user anyway.
package auth

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/mp3converter/mp3converter"
)

// Errors shown to clients, with the seed's wording.
var (
	ErrMissingCredentials = mp3converter.Errorf(mp3converter.EUNAUTHORIZED, "missing credentials")
	ErrInvalidCredentials = mp3converter.Errorf(mp3converter.EUNAUTHORIZED, "invalid credentials")
	ErrInvalidToken       = mp3converter.Errorf(mp3converter.EUNAUTHORIZED, "invalid token")
	ErrTokenExpired       = mp3converter.Errorf(mp3converter.EUNAUTHORIZED, "token expired")
)

// MinSecretLength is the shortest JWT secret a service accepts.
const MinSecretLength = 16

// MinPasswordLength is the shortest password an account may have.
const MinPasswordLength = 8

// MaxPasswordBytes is the longest password, in bytes, an account may have:
// bcrypt ignores the bytes past it, so a longer one would let any suffix in.
const MaxPasswordBytes = 72

// Claims are the JWT's claims: the seed's, and one of ours.
type Claims struct {
	Username string `json:"username"`
	// Admin is the seed's claim, which the original gateway reads as "may
	// upload and download". Every signed-in user may, so it is always true,
	// and tokens of ours work behind the original gateway.
	Admin bool `json:"admin"`
	// SiteAdmin is our admin right: reading everyone's jobs. Verify takes it
	// from the user store, never from the token, so a token signed by the
	// original auth (admin: true for everyone) never gains it.
	SiteAdmin bool `json:"mp3converter_admin,omitempty"`
	// Version is the account's TokenVersion when the token was issued;
	// Verify refuses a token of ours whose version the account has left.
	Version int64 `json:"mp3converter_ver,omitempty"`
	jwt.RegisteredClaims
}

// Service issues and verifies tokens.
type Service struct {
	Users  mp3converter.UserStore
	Secret []byte
	TTL    time.Duration // token lifetime; 24 h if 0
	// Cost is bcrypt's cost for new hashes; bcrypt.DefaultCost if 0.
	Cost   int
	Now    func() time.Time
	Logger *slog.Logger

	dummyOnce sync.Once
	dummy     []byte // a hash to compare against for unknown users
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// HashPassword returns a bcrypt hash of password. A password over
// MaxPasswordBytes is refused with an EINVALID error.
func (s *Service) HashPassword(password string) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", mp3converter.Errorf(mp3converter.EINVALID, "password longer than %d bytes", MaxPasswordBytes)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cost())
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

func (s *Service) cost() int {
	if s.Cost == 0 {
		return bcrypt.DefaultCost
	}
	return s.Cost
}

// IsPlainText reports whether a stored password is the original system's
// plain text, not yet re-hashed by a login through our auth.
func IsPlainText(stored string) bool { return !isBcrypt(stored) }

func isBcrypt(hash string) bool {
	return len(hash) == 60 && (strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$"))
}

// Login checks email and password and returns a signed token. Errors:
// ErrMissingCredentials, ErrInvalidCredentials, or an internal one. A
// password over MaxPasswordBytes never matches: bcrypt would compare only its
// first 72 bytes.
func (s *Service) Login(ctx context.Context, email, password string) (string, error) {
	if email == "" || password == "" {
		return "", ErrMissingCredentials
	}
	if len(password) > MaxPasswordBytes {
		s.burnTime(password) // as long as a real check
		return "", ErrInvalidCredentials
	}
	email, err := mp3converter.NormalizeEmail(email)
	if err != nil {
		s.burnTime(password)
		return "", ErrInvalidCredentials
	}
	u, err := s.Users.UserByEmail(ctx, email)
	if errors.Is(err, mp3converter.ErrNotFound) {
		s.burnTime(password) // as long as a real check, so unknown emails do not show
		return "", ErrInvalidCredentials
	}
	if err != nil {
		return "", err
	}
	if isBcrypt(u.PasswordHash) {
		if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
			return "", ErrInvalidCredentials
		}
	} else {
		// A seed row with a plain-text password: check it, then hash it.
		s.burnTime(password)
		if subtle.ConstantTimeCompare([]byte(u.PasswordHash), []byte(password)) != 1 {
			return "", ErrInvalidCredentials
		}
		if h, err := s.HashPassword(password); err == nil {
			if err := s.Users.SetPasswordHash(ctx, email, h); err != nil {
				s.log().Error("PasswordRehashFailed", "user", email, "err", err)
			} else {
				s.log().Info("PasswordRehashed", "user", email)
			}
		}
	}
	return s.Issue(u)
}

// burnTime spends the time of one bcrypt comparison.
func (s *Service) burnTime(password string) {
	s.dummyOnce.Do(func() {
		s.dummy, _ = bcrypt.GenerateFromPassword([]byte("not a password"), s.cost())
	})
	bcrypt.CompareHashAndPassword(s.dummy, []byte(password))
}

// Issue returns a token for u.
func (s *Service) Issue(u *mp3converter.User) (string, error) {
	if len(s.Secret) < MinSecretLength {
		return "", errors.New("auth: JWT secret too short")
	}
	ttl := s.TTL
	if ttl == 0 {
		ttl = 24 * time.Hour
	}
	now := s.now()
	claims := Claims{
		Username:  u.Email,
		Admin:     true,
		SiteAdmin: u.Admin,
		Version:   u.TokenVersion,
		RegisteredClaims: jwt.RegisteredClaims{
			// The account, not just its email: a token outlives neither.
			Subject:   strconv.FormatInt(u.ID, 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(s.Secret)
}

// Revoke makes every token issued to the account of email until now
// invalid, on every device. Tokens of the original auth carry no version
// and cannot be revoked: they work until they expire.
// Errors: mp3converter.ErrNotFound if there is no such account, or an
// internal one.
func (s *Service) Revoke(ctx context.Context, email string) error {
	if s.Users == nil {
		return errors.New("auth: no user store to revoke tokens in")
	}
	return s.Users.RevokeTokens(ctx, email)
}

// Verify checks a token's signature, algorithm and expiry, that its user
// still exists and has not revoked it, and returns its claims with
// SiteAdmin as the user is now (false when no user store is set).
// Errors: ErrInvalidToken, ErrTokenExpired, or an internal one.
func (s *Service) Verify(ctx context.Context, token string) (*Claims, error) {
	var c Claims
	tok, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.Secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(s.now),
		jwt.WithLeeway(5*time.Second),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, ErrTokenExpired
	case err != nil:
		return nil, ErrInvalidToken
	case c.Username == "" || !strict(tok):
		return nil, ErrInvalidToken
	}
	if s.Users != nil {
		u, err := s.Users.UserByEmail(ctx, c.Username)
		if errors.Is(err, mp3converter.ErrNotFound) {
			return nil, ErrInvalidToken
		}
		if err != nil {
			return nil, err
		}
		// A token of a deleted account must not work for a new one with the
		// same email: ids are never reused. One issued before the account's
		// last logout or new password has an older version. Tokens of the
		// original auth have no subject and no version; they name an email
		// only, and cannot be revoked.
		if c.Subject != "" && (c.Subject != strconv.FormatInt(u.ID, 10) || c.Version != u.TokenVersion) {
			return nil, ErrInvalidToken
		}
		c.SiteAdmin = u.Admin
	} else {
		c.SiteAdmin = false
	}
	c.Admin = true
	return &c, nil
}

// Owner is Username normalised (mp3converter.Owner): what the caller's
// jobs, webhooks and limits are kept under, whatever the token's spelling.
func (c *Claims) Owner() string { return mp3converter.Owner(c.Username) }

// strict refuses what the JWT library lets through in a validly signed
// token. A crit header names extensions the reader must understand, and we
// implement none (RFC 7515 4.1.11: refuse it). exp, iat and nbf must be
// JSON numbers (RFC 7519), but the library reads a string holding a number
// as that number, and null as no claim; other readers differ (some ignore
// such an exp: a token that never expires), and neither our auth nor the
// original (PyJWT) writes one. The payload, already decoded once by the
// library, is decoded again only for valid signatures.
func strict(tok *jwt.Token) bool {
	if _, ok := tok.Header["crit"]; ok {
		return false
	}
	_, rest, _ := strings.Cut(tok.Raw, ".")
	segment, _, _ := strings.Cut(rest, ".")
	payload, err := base64.RawURLEncoding.DecodeString(segment)
	// Decoded as the library decodes its claims, into a struct: a member's
	// name matches in any case and the last of duplicates wins, so both read
	// the same member ("exp": 1, "EXP": "9999999999" is a string exp to
	// both). And the other claims are skipped, not kept.
	var times struct {
		Exp json.RawMessage `json:"exp"`
		Iat json.RawMessage `json:"iat"`
		Nbf json.RawMessage `json:"nbf"`
	}
	if err != nil || json.Unmarshal(payload, &times) != nil {
		return false
	}
	return numberOrAbsent(times.Exp) && numberOrAbsent(times.Iat) && numberOrAbsent(times.Nbf)
}

// numberOrAbsent says whether v, valid JSON or nil for a claim not given, is
// a number or nil.
func numberOrAbsent(v json.RawMessage) bool {
	return v == nil || v[0] == '-' || v[0] >= '0' && v[0] <= '9'
}
