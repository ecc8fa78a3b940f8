package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Credentials are what login keeps: the server and a token for it.
type Credentials struct {
	Server string `json:"server"`
	Email  string `json:"email"`
	Token  string `json:"token"`
	// Device is the server's device cookie, "name=value", sent back at
	// the next login (see Client.Device).
	Device  string    `json:"device,omitempty"`
	SavedAt time.Time `json:"saved_at"`
}

// CredentialsPath is where the token is kept: token.json in mp3converter
// under the user's config directory ($XDG_CONFIG_HOME or ~/.config on
// Linux).
func CredentialsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "mp3converter", "token.json"), nil
}

// SaveCredentials writes c to path, readable by the user alone (0600, in a
// 0700 directory). It replaces the file atomically, so a reader never sees
// half of it.
func SaveCredentials(path string, c Credentials) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// MkdirAll keeps an existing directory's mode; the token's directory
	// is ours alone.
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".token-*.json") // created 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// LoadCredentials reads the credentials at path; fs.ErrNotExist if there
// are none.
func LoadCredentials(path string) (Credentials, error) {
	var c Credentials
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// IsNotExist says whether err means there is no credentials file.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// TokenExpiry reads the expiry of a JWT without checking its signature
// (only the server can); ok is false when the token has none.
func TokenExpiry(token string) (exp time.Time, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(b, &claims) != nil || claims.Exp == 0 {
		return time.Time{}, false
	}
	return time.Unix(claims.Exp, 0), true
}
