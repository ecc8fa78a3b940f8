package testsupport

import (
	"net/url"
	"os/exec"
	"testing"
)

// Broker creates a RabbitMQ vhost of a random name on the broker of
// MP3CONVERTER_TEST_RABBITMQ_URL (default amqp://guest:guest@127.0.0.1:5672/),
// lets that URL's user use it, and returns an amqp:// URL for it. The vhost
// and all its queues are deleted when t ends, so a test may use fixed queue
// names. The vhost is made with rabbitmqctl, which must reach the broker's
// node. It fails the test if the broker is not there.
func Broker(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(env("MP3CONVERTER_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"))
	if err != nil {
		t.Fatalf("MP3CONVERTER_TEST_RABBITMQ_URL: %v", err)
	}
	if !Listening(hostPort(u.Host, "5672")) {
		t.Fatalf("RabbitMQ is not reachable at %s (start it as .ci/run does)", u.Redacted())
	}
	vhost := RandomName("mp3test-")
	rabbitmqctl(t, "add_vhost", vhost)
	t.Cleanup(func() { exec.Command("rabbitmqctl", "delete_vhost", vhost).Run() })
	rabbitmqctl(t, "set_permissions", "-p", vhost, u.User.Username(), ".*", ".*", ".*")
	u.Path, u.RawPath = "/"+vhost, ""
	return u.String()
}

func rabbitmqctl(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("rabbitmqctl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
}
