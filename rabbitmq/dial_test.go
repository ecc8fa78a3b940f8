package rabbitmq

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mp3converter/mp3converter"
)

// TestDialTriesEachNode: with every node down, a dial tries each in turn
// from the one after the node that failed last, and its error names them
// all, without passwords.
func TestDialTriesEachNode(t *testing.T) {
	var urls []string
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close() // refused from now on
		urls = append(urls, "amqp://u:hunter2@"+ln.Addr().String()+"/")
	}
	q, err := New(strings.Join(urls, ","), Options{DialTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	q.next = 1
	_, err = q.connection()
	if !errors.Is(err, mp3converter.ErrUnavailable) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("dial: %v", err)
	}
	var order []int
	for i, u := range urls {
		order = append(order, strings.Index(err.Error(), u[strings.Index(u, "@"):]))
		if order[i] < 0 {
			t.Errorf("the error does not name node %d: %v", i+1, err)
		}
	}
	if !(order[1] < order[2] && order[2] < order[0]) {
		t.Errorf("want nodes 2, 3, 1 in turn: %v", err)
	}
	if q.next != 1 {
		t.Errorf("next dial starts at node %d, want 2 (after 1, which failed last)", q.next+1)
	}
}
