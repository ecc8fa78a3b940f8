package auth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

func newService(t *testing.T) (*auth.Service, mp3converter.UserStore) {
	t.Helper()
	db := testsupport.SQLite(t)
	s := &auth.Service{Users: db.Users, Secret: secret, Cost: bcrypt.MinCost}
	h, err := s.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Users.CreateUser(context.Background(), &mp3converter.User{Email: "ann@example.com", PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	return s, db.Users
}

func TestLogin(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	tests := []struct {
		email, password string
		want            error
	}{
		{"ann@example.com", "correct horse", nil},
		{"  ANN@Example.com ", "correct horse", nil},
		{"ann@example.com", "wrong", auth.ErrInvalidCredentials},
		{"ann@example.com", "correct horse ", auth.ErrInvalidCredentials},
		{"bob@example.com", "correct horse", auth.ErrInvalidCredentials},
		{"not an email", "x", auth.ErrInvalidCredentials},
		{"", "correct horse", auth.ErrMissingCredentials},
		{"ann@example.com", "", auth.ErrMissingCredentials},
	}
	for _, tt := range tests {
		tok, err := s.Login(ctx, tt.email, tt.password)
		if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
			t.Errorf("Login(%q, %q) = %v, want %v", tt.email, tt.password, err, tt.want)
			continue
		}
		if tt.want == nil {
			c, err := s.Verify(ctx, tok)
			if err != nil {
				t.Fatalf("fresh token: %v", err)
			}
			// admin is the seed's "may upload": true for all; ours is apart.
			if c.Username != "ann@example.com" || !c.Admin || c.SiteAdmin {
				t.Errorf("claims %+v", c)
			}
			if d := c.ExpiresAt.Sub(c.IssuedAt.Time); d != 24*time.Hour {
				t.Errorf("token lives %v, want 24h", d)
			}
		}
	}
}

// A seed row holding a plain-text password logs in once and is re-hashed.
func TestLegacyPlainTextPassword(t *testing.T) {
	s, users := newService(t)
	ctx := context.Background()
	if err := users.CreateUser(ctx, &mp3converter.User{Email: "seed@example.com", PasswordHash: "Admin123"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "seed@example.com", "wrong"); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if u, _ := users.UserByEmail(ctx, "seed@example.com"); u.PasswordHash != "Admin123" {
		t.Fatal("a failed login changed the stored password")
	}
	if _, err := s.Login(ctx, "seed@example.com", "Admin123"); err != nil {
		t.Fatalf("plain-text login: %v", err)
	}
	u, _ := users.UserByEmail(ctx, "seed@example.com")
	if !strings.HasPrefix(u.PasswordHash, "$2") || bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("Admin123")) != nil {
		t.Fatalf("password not re-hashed: %q", u.PasswordHash)
	}
	if _, err := s.Login(ctx, "seed@example.com", "Admin123"); err != nil {
		t.Fatalf("login after re-hash: %v", err)
	}
	// The hash itself is not a password.
	if _, err := s.Login(ctx, "seed@example.com", u.PasswordHash); !errors.Is(err, auth.ErrInvalidCredentials) {
		t.Fatalf("logging in with the hash: %v", err)
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerify(t *testing.T) {
	s, users := newService(t)
	ctx := context.Background()
	now := time.Now()
	claims := func(user string, iat, exp time.Time) auth.Claims {
		// Both admin claims set: neither may grant our admin right.
		c := auth.Claims{Username: user, Admin: true, SiteAdmin: true}
		if !iat.IsZero() {
			c.IssuedAt = jwt.NewNumericDate(iat)
		}
		if !exp.IsZero() {
			c.ExpiresAt = jwt.NewNumericDate(exp)
		}
		return c
	}
	valid := claims("ann@example.com", now, now.Add(time.Hour))
	good := sign(t, jwt.SigningMethodHS256, secret, valid)
	parts := strings.Split(good, ".")

	verifyCases(t, s, []verifyCase{
		{"valid", good, nil},
		{"expired", sign(t, jwt.SigningMethodHS256, secret, claims("ann@example.com", now.Add(-2*time.Hour), now.Add(-time.Hour))), auth.ErrTokenExpired},
		{"no exp", sign(t, jwt.SigningMethodHS256, secret, claims("ann@example.com", now, time.Time{})), auth.ErrInvalidToken},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, secret, claims("ann@example.com", now.Add(time.Hour), now.Add(2*time.Hour))), auth.ErrInvalidToken},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid), auth.ErrInvalidToken},
		{"HS512 with the right key", sign(t, jwt.SigningMethodHS512, secret, valid), auth.ErrInvalidToken},
		{"wrong key", sign(t, jwt.SigningMethodHS256, []byte("another key, also long enough!!"), valid), auth.ErrInvalidToken},
		{"no username", sign(t, jwt.SigningMethodHS256, secret, claims("", now, now.Add(time.Hour))), auth.ErrInvalidToken},
		{"unknown user", sign(t, jwt.SigningMethodHS256, secret, claims("mallory@example.com", now, now.Add(time.Hour))), auth.ErrInvalidToken},
		{"tampered payload", parts[0] + "." + strings.TrimRight(parts[1], "=") + "x." + parts[2], auth.ErrInvalidToken},
		{"signature stripped", parts[0] + "." + parts[1] + ".", auth.ErrInvalidToken},
		{"garbage", "garbage", auth.ErrInvalidToken},
		{"empty", "", auth.ErrInvalidToken},
	})

	// A deleted user's token stops working.
	if err := users.DeleteUser(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(ctx, good); !errors.Is(err, auth.ErrInvalidToken) {
		t.Errorf("deleted user's token: %v", err)
	}
}

// What the JWT library lets through in a token signed with the right key:
// a crit header, and exp, iat or nbf that are not numbers.
func TestVerifyStrict(t *testing.T) {
	s, _ := newService(t)
	now := time.Now()
	// raw signs claims as given, with extra header members.
	raw := func(header map[string]any, claims jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		for k, v := range header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mapClaims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"username": "ann@example.com", "admin": true, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	far := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	// text signs a payload written by hand.
	text := func(payload string) string {
		enc := base64.RawURLEncoding
		signing := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload))
		sig, err := jwt.SigningMethodHS256.Sign(signing, secret)
		if err != nil {
			t.Fatal(err)
		}
		return signing + "." + enc.EncodeToString(sig)
	}

	verifyCases(t, s, []verifyCase{
		{"map claims", raw(nil, mapClaims(nil)), nil},
		{"fractional exp", raw(nil, mapClaims(jwt.MapClaims{"exp": float64(now.Add(time.Hour).Unix()) + 0.5})), nil},
		{"crit header", raw(map[string]any{"crit": []string{"exp"}}, mapClaims(nil)), auth.ErrInvalidToken},
		{"empty crit header", raw(map[string]any{"crit": []string{}}, mapClaims(nil)), auth.ErrInvalidToken},
		{"null crit header", raw(map[string]any{"crit": nil}, mapClaims(nil)), auth.ErrInvalidToken},
		{"string exp", raw(nil, mapClaims(jwt.MapClaims{"exp": far})), auth.ErrInvalidToken},
		{"string iat", raw(nil, mapClaims(jwt.MapClaims{"iat": strconv.FormatInt(now.Unix(), 10)})), auth.ErrInvalidToken},
		{"string nbf", raw(nil, mapClaims(jwt.MapClaims{"nbf": strconv.FormatInt(now.Unix(), 10)})), auth.ErrInvalidToken},
		{"null iat", raw(nil, mapClaims(jwt.MapClaims{"iat": nil})), auth.ErrInvalidToken},
		{"spaced payload", text(`{ "username" : "ann@example.com", "exp" : ` + far + ` }`), nil},
		{"spaced string exp", text(`{ "username" : "ann@example.com", "exp" :  "` + far + `" }`), auth.ErrInvalidToken},
		// The library matches names in any case, and takes the last.
		{"string EXP after exp", text(`{"username":"ann@example.com","exp":` + far + `,"EXP":"` + far + `"}`), auth.ErrInvalidToken},
	})
}

// verifyCase is a token and what Verify must answer: nil for ann's claims.
type verifyCase struct {
	name  string
	token string
	want  error
}

func verifyCases(t *testing.T, s *auth.Service, tests []verifyCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.Verify(context.Background(), tt.token)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				// SiteAdmin comes from the user as stored, not from the token.
				if c.Username != "ann@example.com" || !c.Admin || c.SiteAdmin {
					t.Errorf("claims %+v", c)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if mp3converter.ErrorCode(err) != mp3converter.EUNAUTHORIZED {
				t.Errorf("code %s, want unauthorized", mp3converter.ErrorCode(err))
			}
		})
	}
}

// bcrypt reads only a password's first 72 bytes, so a longer one is refused
// when set and never matches at login.
func TestPasswordLength(t *testing.T) {
	s, users := newService(t)
	ctx := context.Background()
	p72 := strings.Repeat("p", auth.MaxPasswordBytes)
	for _, tt := range []struct {
		name, password string
		ok             bool
	}{
		{"short", "x", true},
		{"72 bytes", p72, true},
		{"73 bytes", p72 + "q", false},
		{"71 ASCII + 2-byte rune", p72[:71] + "é", false},
		{"long", strings.Repeat("p", 1000), false},
	} {
		h, err := s.HashPassword(tt.password)
		if tt.ok {
			if err != nil || bcrypt.CompareHashAndPassword([]byte(h), []byte(tt.password)) != nil {
				t.Errorf("%s: HashPassword = %q, %v", tt.name, h, err)
			}
			continue
		}
		if mp3converter.ErrorCode(err) != mp3converter.EINVALID || !strings.Contains(err.Error(), "password longer than 72 bytes") {
			t.Errorf("%s: HashPassword err = %v, want EINVALID \"password longer than 72 bytes\"", tt.name, err)
		}
	}

	h, err := s.HashPassword(p72)
	if err != nil {
		t.Fatal(err)
	}
	if err := users.CreateUser(ctx, &mp3converter.User{Email: "long@example.com", PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	// A seed row whose plain-text password is over the limit.
	if err := users.CreateUser(ctx, &mp3converter.User{Email: "seedlong@example.com", PasswordHash: p72 + "q"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		email, password string
		want            error
	}{
		{"long@example.com", p72, nil},
		{"long@example.com", p72 + "q", auth.ErrInvalidCredentials},
		{"long@example.com", p72 + "anything at all", auth.ErrInvalidCredentials},
		{"long@example.com", p72[:71], auth.ErrInvalidCredentials},
		{"seedlong@example.com", p72 + "q", auth.ErrInvalidCredentials},
		{"ann@example.com", "correct horse" + strings.Repeat(" ", 70), auth.ErrInvalidCredentials},
		{"nobody@example.com", p72 + "q", auth.ErrInvalidCredentials},
	} {
		_, err := s.Login(ctx, tt.email, tt.password)
		if err != tt.want && !errors.Is(err, tt.want) {
			t.Errorf("Login(%q, %d bytes) = %v, want %v", tt.email, len(tt.password), err, tt.want)
		}
	}
}

// Logout (Revoke) and a new password (SetPassword) revoke every token of
// ours issued before; a new login works. The original auth's tokens, which
// carry no account or version, cannot be revoked.
func TestRevoke(t *testing.T) {
	s, users := newService(t)
	ctx := context.Background()
	login := func() string {
		t.Helper()
		tok, err := s.Login(ctx, "ann@example.com", "correct horse")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	verify := func(what, tok string, want error) {
		t.Helper()
		if _, err := s.Verify(ctx, tok); !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("%s: Verify = %v, want %v", what, err, want)
		}
	}
	phone, laptop := login(), login()
	original := sign(t, jwt.SigningMethodHS256, secret, auth.Claims{Username: "ann@example.com", Admin: true,
		RegisteredClaims: jwt.RegisteredClaims{IssuedAt: jwt.NewNumericDate(time.Now()), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
	verify("a fresh token", phone, nil)

	if err := s.Revoke(ctx, "ann@example.com"); err != nil {
		t.Fatal(err)
	}
	verify("the token logged out", phone, auth.ErrInvalidToken)
	verify("another device's token", laptop, auth.ErrInvalidToken)
	verify("the original auth's token", original, nil)
	after := login()
	verify("a login after the logout", after, nil)

	h, err := s.HashPassword("battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if err := users.SetPassword(ctx, "ann@example.com", h); err != nil {
		t.Fatal(err)
	}
	verify("a token from before the new password", after, auth.ErrInvalidToken)
	tok, err := s.Login(ctx, "ann@example.com", "battery staple")
	if err != nil {
		t.Fatal(err)
	}
	verify("a login with the new password", tok, nil)

	if err := s.Revoke(ctx, "nobody@example.com"); !errors.Is(err, mp3converter.ErrNotFound) {
		t.Errorf("Revoke of nobody: %v, want ErrNotFound", err)
	}
}

// A token whose version the account never had is refused too: Verify
// compares, it does not only look for an older version.
func TestVersionMismatch(t *testing.T) {
	s, users := newService(t)
	ctx := context.Background()
	u, err := users.UserByEmail(ctx, "ann@example.com")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []int64{-1, 1, 7} {
		w := *u
		w.TokenVersion = v
		tok, err := s.Issue(&w)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(ctx, tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("version %d against the account's 0: %v, want ErrInvalidToken", v, err)
		}
	}
	tok, _ := s.Issue(u)
	if c, err := s.Verify(ctx, tok); err != nil || c.Version != 0 {
		t.Errorf("the account's version: %+v, %v", c, err)
	}
}

// The silent re-hash of a plain-text seed password at its first login is
// not a new password: the tokens issued before it stay valid.
func TestRehashKeepsTokens(t *testing.T) {
	s, users := newService(t)
	ctx := context.Background()
	if err := users.CreateUser(ctx, &mp3converter.User{Email: "seed@example.com", PasswordHash: "Admin123"}); err != nil {
		t.Fatal(err)
	}
	u, err := users.UserByEmail(ctx, "seed@example.com")
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Issue(u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Login(ctx, "seed@example.com", "Admin123"); err != nil {
		t.Fatal(err)
	}
	if u, _ := users.UserByEmail(ctx, "seed@example.com"); u == nil || auth.IsPlainText(u.PasswordHash) {
		t.Fatalf("not re-hashed: %+v", u)
	}
	if _, err := s.Verify(ctx, before); err != nil {
		t.Errorf("a token from before the re-hash: %v", err)
	}
}
