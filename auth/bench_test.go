package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

// BenchmarkLoginTiming times, side by side at the default bcrypt cost, a
// login with a wrong password for a real account, one for an unknown email
// and one for a seed row's plain-text password. unknown/known and
// legacy/known near 1 mean the answer's timing does not tell which emails
// have accounts.
func BenchmarkLoginTiming(b *testing.B) {
	ctx := context.Background()
	db := testsupport.SQLite(b)
	s := &auth.Service{Users: db.Users, Secret: secret}
	h, _ := s.HashPassword("correct horse")
	db.Users.CreateUser(ctx, &mp3converter.User{Email: "ann@example.com", PasswordHash: h})
	db.Users.CreateUser(ctx, &mp3converter.User{Email: "seed@example.com", PasswordHash: "plain-text"})
	s.Login(ctx, "nobody@example.com", "warm up")
	var known, unknown, legacy time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		s.Login(ctx, "ann@example.com", "wrong")
		known += time.Since(start)
		start = time.Now()
		s.Login(ctx, "nobody@example.com", "wrong")
		unknown += time.Since(start)
		start = time.Now()
		s.Login(ctx, "seed@example.com", "wrong")
		legacy += time.Since(start)
	}
	b.ReportMetric(float64(known.Microseconds())/float64(b.N)/1000, "known-ms/op")
	b.ReportMetric(unknown.Seconds()/known.Seconds(), "unknown/known")
	b.ReportMetric(legacy.Seconds()/known.Seconds(), "legacy/known")
}

// BenchmarkVerify times Verify of a good token, with the user looked up in
// SQLite (what serve does on every request) and in memory (the token's own
// work: decoding, the signature, the claims' checks).
func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	db := testsupport.SQLite(b)
	u := &mp3converter.User{Email: "ann@example.com", PasswordHash: "not checked here"}
	if err := db.Users.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name  string
		users mp3converter.UserStore
	}{{"sqlite", db.Users}, {"memory", oneUser{u: u}}} {
		b.Run(bc.name, func(b *testing.B) {
			s := &auth.Service{Users: bc.users, Secret: secret}
			token, err := s.Issue(u)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Verify(ctx, token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// oneUser is a UserStore holding one user, read-only.
type oneUser struct {
	mp3converter.UserStore // the rest: not called
	u                      *mp3converter.User
}

func (s oneUser) UserByEmail(_ context.Context, email string) (*mp3converter.User, error) {
	if email != s.u.Email {
		return nil, mp3converter.ErrNotFound
	}
	u := *s.u
	return &u, nil
}
