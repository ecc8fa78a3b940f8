package testsupport

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter"
)

// Mailpit returns the SMTP address (host:port) and API base URL of the
// Mailpit server that catches the tests' mail: MP3CONVERTER_TEST_MAILPIT_SMTP
// and MP3CONVERTER_TEST_MAILPIT_API, or 127.0.0.1:1025 and
// http://127.0.0.1:8025 where .ci/run starts it. Tests share it, so each
// sends to addresses of its own. It fails the test if Mailpit is not up.
func Mailpit(t testing.TB) (smtpAddr, api string) {
	t.Helper()
	smtpAddr = env("MP3CONVERTER_TEST_MAILPIT_SMTP", "127.0.0.1:1025")
	api = env("MP3CONVERTER_TEST_MAILPIT_API", "http://127.0.0.1:8025")
	resp, err := http.Get(api + "/api/v1/info")
	if err != nil {
		t.Fatalf("Mailpit is not running at %s (start it as .ci/run does): %v", api, err)
	}
	resp.Body.Close()
	return smtpAddr, api
}

// MailpitInbox returns the mails the Mailpit at api caught for address.
func MailpitInbox(t testing.TB, api, address string) []mp3converter.Mail {
	t.Helper()
	var list struct {
		Messages []struct {
			ID        string
			MessageID string
			Subject   string
			To        []struct{ Address string }
		}
	}
	getJSON(t, api+"/api/v1/search?limit=1000&query="+url.QueryEscape("to:"+address), &list)
	var out []mp3converter.Mail
	for _, m := range list.Messages {
		var full struct{ Text string }
		getJSON(t, api+"/api/v1/message/"+m.ID, &full)
		var to []string
		for _, a := range m.To {
			to = append(to, a.Address)
		}
		out = append(out, mp3converter.Mail{To: strings.Join(to, ","), Subject: m.Subject, Body: strings.ReplaceAll(full.Text, "\r\n", "\n"), ID: m.MessageID})
	}
	return out
}

func getJSON(t testing.TB, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(fmt.Errorf("GET %s: %w", u, err))
	}
}
