package app

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/auth"
	"github.com/mp3converter/mp3converter/internal/cmdflag"
)

// jwtSecret returns the configured secret or, on embedded engines, the one
// kept in the data dir, generated on first use.
func jwtSecret(configured string, p Process, dir string) ([]byte, error) {
	if configured != "" || p.Shape != Standalone {
		return []byte(configured), nil
	}
	path := filepath.Join(dir, "jwt-secret")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= auth.MinSecretLength {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	s := hex.EncodeToString(secret)
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write %s: %w", path, err)
	}
	return []byte(s), nil
}

// firstAdmin creates an admin on a first start with no users: from
// --admin-email and --admin-password, or with a generated password printed
// once.
func firstAdmin(ctx context.Context, a *auth.Service, users mp3converter.UserStore, c *Config, stdout io.Writer, log *slog.Logger) error {
	list, err := users.ListUsers(ctx)
	if err != nil || len(list) > 0 {
		return err
	}
	email, err := mp3converter.NormalizeEmail(cmp.Or(c.AdminEmail, "admin@localhost"))
	if err != nil {
		return cmdflag.Usagef("bad setting: MP3CONVERTER_ADMIN_EMAIL: %w", err)
	}
	password, generated := c.AdminPassword, c.AdminPassword == ""
	if generated {
		password = rand.Text()[:20]
	}
	hash, err := a.HashPassword(password)
	if err != nil {
		return err
	}
	if err := users.CreateUser(ctx, &mp3converter.User{Email: email, PasswordHash: hash, Admin: true}); err != nil {
		return err
	}
	log.Info("AdminCreated", "email", email)
	if generated {
		fmt.Fprintf(stdout, "\nCreated the first user, an admin:\n  email:    %s\n  password: %s\nThis password is shown once. Log in with:\n  curl -X POST -u '%s:%s' %s/login\n\n",
			email, password, email, password, c.PublicURL)
	}
	return nil
}
