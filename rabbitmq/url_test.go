package rabbitmq_test

import (
	"strings"
	"testing"

	"github.com/mp3converter/mp3converter/rabbitmq"
)

func TestNewChecksURL(t *testing.T) {
	for _, u := range []string{"amqp://guest:guest@127.0.0.1:5672/", "amqps://u:p@broker.example.com/vhost"} {
		if _, err := rabbitmq.New(u, rabbitmq.Options{}); err != nil {
			t.Errorf("New(%q): %v", u, err)
		}
	}
	for _, u := range []string{"http://broker", "amqp://u:hunter2@host:notaport/", ""} {
		_, err := rabbitmq.New(u, rabbitmq.Options{})
		if err == nil {
			t.Errorf("New(%q) accepted a bad URL", u)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}
