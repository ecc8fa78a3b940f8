package rabbitmq_test

import (
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter/rabbitmq"
)

func TestNewChecksURL(t *testing.T) {
	for _, u := range []string{"amqp://guest:guest@127.0.0.1:5672/", "amqps://u:p@broker.example.com/vhost",
		"amqp://u:p@h1:5672/,amqp://u:p@h2:5672/", "amqp://u:p@h1/v, amqps://u:p@h2/v ,amqp://u:p@h3/v"} {
		if _, err := rabbitmq.New(u, rabbitmq.Options{}); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	for _, u := range []string{"http://broker", "amqp://u:hunter2@host:notaport/", "", "amqp://u:hunter2@h1/,",
		"amqp://u:hunter2@h1/,http://u:hunter2@h2/", "amqp://u:hunter2@h1/,amqp://u:hunter2@h2:x/"} {
		_, err := rabbitmq.New(u, rabbitmq.Options{})
		if err == nil {
			t.Errorf("New(%q) accepted a bad URL", u)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestNewChecksQueueType(t *testing.T) {
	for _, kind := range []string{"", rabbitmq.Classic, rabbitmq.Quorum} {
		if _, err := rabbitmq.New("amqp://u:p@h/", rabbitmq.Options{QueueType: kind}); err != nil {
			t.Errorf("queue type %q: %v", kind, err)
		}
	}
	if _, err := rabbitmq.New("amqp://u:p@h/", rabbitmq.Options{QueueType: "stream"}); err == nil || !strings.Contains(err.Error(), "want classic or quorum") {
		t.Errorf("queue type stream: %v", err)
	}
}
