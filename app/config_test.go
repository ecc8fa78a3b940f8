package app

import (
	"strings"
	"testing"
)

// TestQueueSettings: --queue-url takes several amqp URLs, --queue-type is
// classic or quorum, and quorum needs RabbitMQ. Only the queue settings'
// messages are looked at: the rest of the Config is left empty.
func TestQueueSettings(t *testing.T) {
	gateway, _ := LookupProcess("gateway")
	serve, _ := LookupProcess("serve")
	for _, tc := range []struct {
		p         Process
		url, kind string
		want      string // in the error about the queue settings; "" for none
	}{
		{gateway, "amqp://u:p@h1:5672/", "classic", ""},
		{gateway, "amqp://u:p@h1:5672/,amqp://u:p@h2:5672/,amqps://u:p@h3:5671/", "quorum", ""},
		{gateway, "amqp://u:p@h1:5672/, amqp://u:p@h2:5672/", "", `MP3CONVERTER_QUEUE_TYPE="": want classic or quorum`},
		{gateway, "amqp://u:p@h1:5672/,amqp://u:hunter2@h2:x/", "classic", "MP3CONVERTER_QUEUE_URL: queue URL amqp://u:xxxxx@h2:x/"},
		{gateway, "amqp://u:p@h1:5672/,goqite:", "classic", "MP3CONVERTER_QUEUE_URL: queue URL goqite:"},
		{gateway, "amqp://u:p@h1:5672/", "stream", `MP3CONVERTER_QUEUE_TYPE="stream": want classic or quorum`},
		{serve, "goqite:", "classic", ""},
		{serve, "goqite:", "quorum", `MP3CONVERTER_QUEUE_TYPE="quorum": quorum queues are RabbitMQ's: MP3CONVERTER_QUEUE_URL names goqite:`},
	} {
		c := Config{QueueURL: tc.url, QueueType: tc.kind, DatabaseURL: "sqlite:"}
		var got []string
		if err := c.Validate(tc.p); err != nil {
			for _, msg := range strings.Split(strings.TrimPrefix(err.Error(), "bad setting: "), "; ") {
				if strings.HasPrefix(msg, "MP3CONVERTER_QUEUE_") {
					got = append(got, msg)
				}
			}
		}
		switch msg := strings.Join(got, "; "); {
		case tc.want == "" && msg != "":
			t.Errorf("%s %q %q: %s", tc.p.Name, tc.url, tc.kind, msg)
		case !strings.Contains(msg, tc.want):
			t.Errorf("%s %q %q: %q, want %q", tc.p.Name, tc.url, tc.kind, msg, tc.want)
		case strings.Contains(msg, "hunter2"):
			t.Errorf("a password in %q", msg)
		}
	}
}
