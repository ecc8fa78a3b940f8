package gridfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

func TestSeekPos(t *testing.T) {
	const size = 100
	tests := []struct {
		pos, offset int64
		whence      int
		want        int64
		wantErr     bool
	}{
		{pos: 40, offset: 0, whence: io.SeekStart, want: 0},
		{pos: 40, offset: 7, whence: io.SeekStart, want: 7},
		{pos: 40, offset: 150, whence: io.SeekStart, want: 150}, // past the end is allowed
		{pos: 40, offset: -1, whence: io.SeekStart, wantErr: true},
		{pos: 40, offset: 0, whence: io.SeekCurrent, want: 40},
		{pos: 40, offset: 10, whence: io.SeekCurrent, want: 50},
		{pos: 40, offset: -40, whence: io.SeekCurrent, want: 0},
		{pos: 40, offset: -41, whence: io.SeekCurrent, wantErr: true},
		{pos: 40, offset: 0, whence: io.SeekEnd, want: size},
		{pos: 40, offset: -10, whence: io.SeekEnd, want: 90},
		{pos: 40, offset: -101, whence: io.SeekEnd, wantErr: true},
		{pos: 40, offset: 0, whence: 3, wantErr: true},
	}
	for _, tt := range tests {
		got, err := seekPos(tt.pos, size, tt.offset, tt.whence)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("seekPos(%d, %d, %d, %d) = %d, %v; want %d, error %v",
				tt.pos, size, tt.offset, tt.whence, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestConnectUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	uri := "mongodb://user:s3cr%2Ft@" + testsupport.FreeAddr(t) + "/?serverSelectionTimeoutMS=300"
	client, err := Connect(ctx, uri)
	if err == nil {
		client.Disconnect(ctx)
		t.Fatal("Connect to a dead address succeeded")
	}
	if !errors.Is(err, mp3converter.ErrUnavailable) {
		t.Errorf("Connect: %v, want ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), "s3cr") {
		t.Errorf("password in the error: %v", err)
	}
}

func TestConnectInvalidURI(t *testing.T) {
	_, err := Connect(context.Background(), "mongodb://user:s3cret@host/?connectTimeoutMS=soon")
	if err == nil {
		t.Fatal("Connect with a malformed URI succeeded")
	}
	if errors.Is(err, mp3converter.ErrUnavailable) {
		t.Errorf("malformed URI reported as unavailable: %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("password in the error: %v", err)
	}
}

// TestUnavailable checks that every method of a store whose server is down
// returns an error wrapping ErrUnavailable, for the HTTP layer's 503.
func TestUnavailable(t *testing.T) {
	client, err := mongo.Connect(options.Client().
		ApplyURI("mongodb://" + testsupport.FreeAddr(t)).
		SetServerSelectionTimeout(200 * time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	s := New(client, "videos")
	ctx := context.Background()
	id := mp3converter.NewID()

	_, putErr := s.Put(ctx, id, bytes.NewReader([]byte("x")))
	_, getErr := s.Get(ctx, id)
	for name, err := range map[string]error{
		"Put":    putErr,
		"Get":    getErr,
		"Delete": s.Delete(ctx, id),
		"Ping":   s.Ping(ctx),
	} {
		if !errors.Is(err, mp3converter.ErrUnavailable) || mp3converter.ErrorCode(err) != mp3converter.EUNAVAILABLE {
			t.Errorf("%s: %v, want ErrUnavailable", name, err)
		}
	}
}

func TestInvalidID(t *testing.T) {
	// No server is needed: ids are checked first.
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + testsupport.FreeAddr(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	s := New(client, "videos")
	ctx := context.Background()
	for _, id := range []string{"", "ABCDEFABCDEFABCDEFABCDEF", "../../../etc/passwd"} {
		if _, err := s.Put(ctx, id, strings.NewReader("x")); mp3converter.ErrorCode(err) != mp3converter.EINVALID {
			t.Errorf("Put(%q): %v, want EINVALID", id, err)
		}
		if _, err := s.Get(ctx, id); !errors.Is(err, mp3converter.ErrNotFound) {
			t.Errorf("Get(%q): %v, want ErrNotFound", id, err)
		}
		if err := s.Delete(ctx, id); !errors.Is(err, mp3converter.ErrNotFound) {
			t.Errorf("Delete(%q): %v, want ErrNotFound", id, err)
		}
	}
}
