// Package mailpit reads the mail a Mailpit server caught, for tests.
package mailpit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter"
)

// Addr returns Mailpit's SMTP and HTTP addresses, from
// MP3CONVERTER_TEST_MAILPIT_SMTP and MP3CONVERTER_TEST_MAILPIT_API or the
// defaults .ci/run starts it on. It fails the test if Mailpit is not up.
func Addr(t testing.TB) (smtp, api string) {
	t.Helper()
	smtp = env("MP3CONVERTER_TEST_MAILPIT_SMTP", "127.0.0.1:1025")
	api = env("MP3CONVERTER_TEST_MAILPIT_API", "http://127.0.0.1:8025")
	resp, err := http.Get(api + "/api/v1/info")
	if err != nil {
		t.Fatalf("Mailpit is not running at %s (start it as .ci/run does): %v", api, err)
	}
	resp.Body.Close()
	return smtp, api
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// Inbox returns the mails sent to address.
func Inbox(t testing.TB, api, address string) []mp3converter.Mail {
	t.Helper()
	var list struct {
		Messages []struct {
			ID        string
			MessageID string
			Subject   string
			To        []struct{ Address string }
		}
	}
	get(t, api+"/api/v1/search?limit=1000&query="+url.QueryEscape("to:"+address), &list)
	var out []mp3converter.Mail
	for _, m := range list.Messages {
		var full struct{ Text string }
		get(t, api+"/api/v1/message/"+m.ID, &full)
		var to []string
		for _, a := range m.To {
			to = append(to, a.Address)
		}
		out = append(out, mp3converter.Mail{To: strings.Join(to, ","), Subject: m.Subject, Body: strings.ReplaceAll(full.Text, "\r\n", "\n"), ID: m.MessageID})
	}
	return out
}

func get(t testing.TB, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(fmt.Errorf("GET %s: %w", u, err))
	}
}
