package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Devices issues and checks device cookies, OWASP's answer to guessing
// spread over many addresses: a browser or CLI that has signed in to an
// account before holds a cookie, signed by the server, that names the
// account. Its failed logins count against that cookie alone (see
// Throttle), not against the account's budget, which every other client
// shares: an attacker who spends the budget does not lock the owner out.
//
// A cookie is "<issued unix seconds>.<nonce>.<MAC>", the MAC an HMAC of
// the account, issue time and nonce; its name holds a MAC of the account,
// so one browser keeps one per account. It is sent to /login only.
type Devices struct {
	// Key signs the cookies; with none, no cookie is issued or believed.
	Key []byte
	// TTL is how long a cookie is good for (a year if 0); each login
	// issues a new one.
	TTL time.Duration
	Now func() time.Time
}

// DeviceKey derives the device cookies' key from the JWT secret, which
// every gateway and auth service of a deployment share, so that a cookie
// one issued is believed by all.
func DeviceKey(jwtSecret []byte) []byte {
	m := hmac.New(sha256.New, jwtSecret)
	m.Write([]byte("mp3converter device cookie"))
	return m.Sum(nil)
}

func (d *Devices) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Devices) mac(parts ...string) string {
	m := hmac.New(sha256.New, d.Key)
	m.Write([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:16])
}

const deviceCookiePrefix = "mp3c_device_"

// cookieName is the name of account's device cookie.
func (d *Devices) cookieName(account string) string {
	return deviceCookiePrefix + d.mac("name", account)[:12]
}

// ID returns the nonce of r's valid device cookie for account, or "".
func (d *Devices) ID(r *http.Request, account string) string {
	if d == nil || len(d.Key) == 0 {
		return ""
	}
	c, err := r.Cookie(d.cookieName(account))
	if err != nil || len(c.Value) > 128 {
		return ""
	}
	issued, nonce, mac, ok := cut3(c.Value)
	if !ok || !hmac.Equal([]byte(mac), []byte(d.mac("device", account, issued, nonce))) {
		return ""
	}
	secs, err := strconv.ParseInt(issued, 10, 64)
	if err != nil || d.now().Sub(time.Unix(secs, 0)) > d.ttl() {
		return ""
	}
	return nonce
}

// deviceCookies are r's device cookies, of any account.
func deviceCookies(r *http.Request) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, deviceCookiePrefix) {
			out = append(out, c)
		}
	}
	return out
}

func cut3(s string) (a, b, c string, ok bool) {
	a, rest, ok1 := strings.Cut(s, ".")
	b, c, ok2 := strings.Cut(rest, ".")
	return a, b, c, ok1 && ok2 && a != "" && b != "" && c != ""
}

func (d *Devices) ttl() time.Duration {
	if d.TTL > 0 {
		return d.TTL
	}
	return 365 * 24 * time.Hour
}

// Issue sets a new device cookie for account on w.
func (d *Devices) Issue(w http.ResponseWriter, account string, secure bool) {
	if d == nil || len(d.Key) == 0 {
		return
	}
	b := make([]byte, 12)
	rand.Read(b)
	issued, nonce := strconv.FormatInt(d.now().Unix(), 10), hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: d.cookieName(account), Value: issued + "." + nonce + "." + d.mac("device", account, issued, nonce),
		Path: "/login", MaxAge: int(d.ttl().Seconds()), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure})
}
