package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/mp3converter/mp3converter"
	"github.com/mp3converter/mp3converter/internal/testsupport"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url     string
		want    location
		wantErr string // a part of the error; "" for none
	}{
		{url: "s3://media", want: location{bucket: "media", region: "us-east-1"}},
		{url: "s3://media/", want: location{bucket: "media", region: "us-east-1"}},
		{url: "s3://media/prod/eu?region=eu-west-1",
			want: location{bucket: "media", prefix: "prod/eu", region: "eu-west-1"}},
		{url: "s3://my.media-1/p/?endpoint=http://127.0.0.1:7070",
			want: location{bucket: "my.media-1", prefix: "p", endpoint: "http://127.0.0.1:7070", region: "us-east-1"}},
		{url: "s3://media?endpoint=https://s3.example.com&region=auto",
			want: location{bucket: "media", endpoint: "https://s3.example.com", region: "auto"}},

		{url: "gs://media", wantErr: `scheme must be s3://, not "gs"`},
		{url: "media", wantErr: "scheme must be s3://"},
		{url: "s3://", wantErr: `bucket ""`},
		{url: "s3://Media", wantErr: `bucket "Media"`},
		{url: "s3://ab", wantErr: `bucket "ab"`},
		{url: "s3://-media", wantErr: `bucket "-media"`},
		{url: "s3://media:9000", wantErr: `bucket "media:9000"`},
		{url: "s3://media/a//b", wantErr: `prefix "a//b"`},
		{url: "s3://media/a/../b", wantErr: `prefix "a/../b"`},
		{url: "s3://media?endpoint=127.0.0.1:7070", wantErr: "endpoint: "},
		{url: "s3://media?endpoint=ftp://host", wantErr: "endpoint: want http"},
		{url: "s3://media?endpoint=", wantErr: "parameter endpoint: want one non-empty value"},
		{url: "s3://media?region=a&region=b", wantErr: "parameter region: want one"},
		{url: "s3://media?bucket=x", wantErr: `unknown parameter "bucket"`},
		{url: "s3://media?%zz", wantErr: "query"},
		{url: "s3://AKIDEXAMPLE:wJalrXUtnFEMI@media", wantErr: "credentials do not belong in the URL"},
		{url: "s3://AKIDEXAMPLE@media", wantErr: "credentials do not belong in the URL"},
		{url: "s3://media?endpoint=http://AKIDEXAMPLE:wJalrXUtnFEMI@host", wantErr: "credentials do not belong in the URL"},
		{url: "s3://AKIDEXAMPLE:wJal%zzrXUtnFEMI@media", wantErr: "malformed"},
	}
	for _, tt := range tests {
		got, err := parseURL(tt.url)
		if tt.wantErr == "" {
			if err != nil || got != tt.want {
				t.Errorf("parseURL(%q) = %+v, %v; want %+v", tt.url, got, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("parseURL(%q): error %v, want one containing %q", tt.url, err, tt.wantErr)
			continue
		}
		for _, secret := range []string{"wJal", "AKIDEXAMPLE"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("parseURL(%q): the error quotes the credentials: %v", tt.url, err)
			}
		}
	}
}

// TestOpenUnavailable: a server that cannot be reached is an outage, known
// within seconds.
func TestOpenUnavailable(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	_, err := Open(ctx, "s3://media?endpoint=http://"+testsupport.FreeAddr(t), WithCredentials("key", "secret"))
	if !errors.Is(err, mp3converter.ErrUnavailable) {
		t.Errorf("Open: %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Open took %v to fail", d)
	}
}

// TestOpenNoCredentials: without credentials Open says so, and it is no
// outage.
func TestOpenNoCredentials(t *testing.T) {
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"} {
		t.Setenv(k, "")
	}
	none := filepath.Join(t.TempDir(), "none")
	t.Setenv("AWS_CONFIG_FILE", none)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", none)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	_, err := Open(context.Background(), "s3://media?endpoint=http://"+testsupport.FreeAddr(t))
	if err == nil || !strings.Contains(err.Error(), "no credentials: set AWS_ACCESS_KEY_ID") {
		t.Errorf("Open without credentials: %v, want an error saying so", err)
	}
	if errors.Is(err, mp3converter.ErrUnavailable) {
		t.Errorf("Open without credentials: %v, taken for an outage", err)
	}
}

// TestInvalidID: ids are checked before any request, as the other stores
// check them.
func TestInvalidID(t *testing.T) {
	s := (&Client{bucket: "media"}).Store("videos")
	ctx := context.Background()
	for _, id := range []string{"", "ABCDEFABCDEFABCDEFABCDEF", "../../../etc/passwd", "0123456789abcdef01234567/x"} {
		if _, err := s.Put(ctx, id, strings.NewReader("x")); mp3converter.ErrorCode(err) != mp3converter.EINVALID {
			t.Errorf("Put(%q): %v, want EINVALID", id, err)
		}
		if _, err := s.Get(ctx, id); !errors.Is(err, mp3converter.ErrNotFound) {
			t.Errorf("Get(%q): %v, want ErrNotFound", id, err)
		}
		if _, err := s.Stat(ctx, id); !errors.Is(err, mp3converter.ErrNotFound) {
			t.Errorf("Stat(%q): %v, want ErrNotFound", id, err)
		}
		if _, err := s.Fetch(ctx, id, nil); !errors.Is(err, mp3converter.ErrNotFound) {
			t.Errorf("Fetch(%q): %v, want ErrNotFound", id, err)
		}
		if err := s.Delete(ctx, id); !errors.Is(err, mp3converter.ErrNotFound) {
			t.Errorf("Delete(%q): %v, want ErrNotFound", id, err)
		}
	}
}

func TestStoreKeys(t *testing.T) {
	const id = "0123456789abcdef01234567"
	for _, tt := range []struct{ prefix, kind, want string }{
		{"", "videos", "videos/" + id},
		{"prod/eu", "mp3s", "prod/eu/mp3s/" + id},
	} {
		if got := *(&Client{prefix: tt.prefix}).Store(tt.kind).key(id); got != tt.want {
			t.Errorf("prefix %q, kind %q: key %q, want %q", tt.prefix, tt.kind, got, tt.want)
		}
	}
}

func TestUnavailable(t *testing.T) {
	reply := func(status int) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      errors.New("reply"),
		}}
	}
	refused := &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", fmt.Errorf("operation error: %w", refused), true},
		{"503 SlowDown", reply(503), true},
		{"500", reply(500), true},
		{"429", reply(429), true},
		{"404 NoSuchKey", reply(404), false},
		{"403", reply(403), false},
		{"412", reply(412), false},
		{"other", errors.New("checksum mismatch"), false},
	}
	for _, tt := range tests {
		if got := unavailable(tt.err); got != tt.want {
			t.Errorf("%s: unavailable = %v, want %v", tt.name, got, tt.want)
		}
	}
}
