package auth_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
)

// FuzzVerify: no string makes Verify panic or accept a token it did not
// sign; every refusal is a 401.
func FuzzVerify(f *testing.F) {
	s := &auth.Service{Secret: secret} // no user store: signature and claims only
	good, _ := s.Issue(&mp3converter.User{Email: "ann@example.com"})
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add("eyJhbGciOiJub25lIn0.eyJ1c2VybmFtZSI6ImEifQ.")
	f.Add("a.b.c")
	f.Add("")
	f.Add("....")
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, auth.Claims{Username: "x", RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	f.Add(none)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := s.Verify(context.Background(), token)
		if err != nil {
			if mp3converter.ErrorCode(err) != mp3converter.EUNAUTHORIZED {
				t.Fatalf("Verify(%q): %v is not a 401", token, err)
			}
			return
		}
		// Accepted means signed with the secret, over exactly these bytes.
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("Verify accepted %q", token)
		}
		sig, derr := jwt.NewParser().DecodeSegment(parts[2])
		if derr != nil || jwt.SigningMethodHS256.Verify(parts[0]+"."+parts[1], sig, secret) != nil {
			t.Fatalf("Verify accepted %q, which the secret did not sign", token)
		}
		if c.Username == "" || c.ExpiresAt == nil {
			t.Fatalf("accepted claims without username or exp: %+v", c)
		}
	})
}
