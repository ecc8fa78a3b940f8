// Package webhook tells users' callback URLs when their jobs finish, as the
// Standard Webhooks specification says (https://www.standardwebhooks.com):
// a JSON event POSTed with the headers webhook-id, webhook-timestamp and
// webhook-signature, an HMAC-SHA256 of id.timestamp.body under a secret
// that each webhook has of its own.
//
// Events records a finished job's event once per webhook of its owner, in
// the mp3converter.WebhookStore, before the finishing role acknowledges its
// message; the Dispatcher sends what is due, from any number of processes
// (each delivery is leased by one at a time), and retries failures with
// growing pauses for more than a day. Delivery is at least once: every
// attempt of one event carries the same webhook-id.
//
// Users choose the URLs, so the Guard keeps them off the service's own
// network: no loopback, private, link-local, multicast or otherwise
// non-public address (code.dny.dev/ssrf's tables of the IANA special-purpose
// registries), checked at registration and again on every connection
// (after DNS resolution, so that a name which changes its answer is caught),
// and no redirects, unless the operator allows private addresses.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// secretPrefix starts a Standard Webhooks secret; base64 of the key follows.
const secretPrefix = "whsec_"

// NewSecret returns a new signing secret: "whsec_" and 32 random bytes in
// base64.
func NewSecret() string {
	key := make([]byte, 32)
	rand.Read(key)
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

// Sign returns the webhook-signature header of a message: "v1," and the
// base64 HMAC-SHA256, under the key that secret encodes, of id, the
// timestamp in Unix seconds and the body, joined by dots.
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil || len(key) == 0 {
		return "", errors.New("webhook secret is not whsec_ and base64")
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}
