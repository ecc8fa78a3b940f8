// Package s3 implements mp3converter.BlobStore on S3-compatible object
// storage (AWS S3, versitygw, MinIO and the like).
//
// A Client owns one bucket, named by a URL
// s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION, and creates it if it is
// missing. Each Store is one kind of blob under it: blob id of kind
// "videos" is the object PREFIX/videos/ID, as gridfs.New(client, "videos")
// is one database. Credentials come from the SDK's usual chain
// (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, shared files, roles) or
// WithCredentials, never from the URL.
//
// Put streams r in parts of partSize bytes (5 MiB), at most partsInFlight
// uploading at once, so a Put holds at most 10 MiB whatever the blob's
// size; a blob smaller than one part is a single PutObject. The object
// appears whole or not at all: a failed or cancelled upload is aborted. It
// never replaces an object: the write is conditional (If-None-Match: * on
// PutObject and CompleteMultipartUpload), and a taken id is
// mp3converter.ErrConflict. That needs a server that checks the condition
// atomically: AWS S3 does (since August 2024), and so does versitygw
// v1.8.0 (TestIntegrationPutRace); on a server that ignores it, a Put
// would replace an existing object. Get returns a reader that seeks and reads by
// ranged GETs, for range requests; Fetch copies an object into a file with
// a few ranged GETs in parallel, for the converter. Connection failures,
// timeouts, 5xx replies and throttling wrap mp3converter.ErrUnavailable.
package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/logging"

	"github.com/mp3converter/mp3converter"
)

const (
	// maxAttempts and maxBackoff bound the SDK's retries of one request,
	// so that an outage surfaces within a few seconds, not minutes: the
	// caller (a job) waits it out instead.
	maxAttempts = 3
	maxBackoff  = time.Second
	// dialTimeout bounds connecting; responseTimeout bounds waiting for a
	// reply's headers once a request is sent. completeTimeout replaces it
	// for CompleteMultipartUpload, which a server may answer only once it
	// has assembled the object.
	dialTimeout     = 5 * time.Second
	responseTimeout = 30 * time.Second
	completeTimeout = 10 * time.Minute
	// cleanupTimeout bounds aborting a failed upload, which runs even
	// when the Put's context has ended.
	cleanupTimeout = 10 * time.Second
)

// Client is a connection to one bucket; it makes Stores. It is safe for
// concurrent use.
type Client struct {
	api    *awss3.Client
	bucket string
	prefix string // the URL's path without its slashes; "" for none
	region string
	// slow is the HTTP client of CompleteMultipartUpload.
	slow *awshttp.BuildableClient
}

// Option configures Open.
type Option func(*options)

type options struct {
	creds aws.CredentialsProvider
}

// WithCredentials makes the client sign with this access key and secret
// instead of the SDK's default chain (environment, shared files, roles).
func WithCredentials(accessKey, secretKey string) Option {
	return func(o *options) {
		o.creds = credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")
	}
}

// Open connects to the bucket of rawURL, s3://BUCKET[/PREFIX]?endpoint=URL&region=REGION,
// and creates the bucket if it is missing. Without endpoint it is AWS S3;
// with one, any S3-compatible server, addressed path-style. region defaults
// to us-east-1. A malformed URL, or one carrying credentials, is an error
// that does not quote them; so is finding no credentials. A server that cannot be reached is an error
// wrapping mp3converter.ErrUnavailable.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Client, error) {
	loc, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	load := []func(*config.LoadOptions) error{
		config.WithRegion(loc.region),
		config.WithLogger(logging.Nop{}), // its warnings would go to stderr; errors say it all
		config.WithRetryer(newRetryer),
		config.WithHTTPClient(httpClient(responseTimeout)),
	}
	if o.creds != nil {
		load = append(load, config.WithCredentialsProvider(o.creds))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("s3 open %s: %w", shownURL(rawURL), err)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("s3 open %s: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or another source of the AWS SDK's default chain: %w", shownURL(rawURL), err)
	}
	api := awss3.NewFromConfig(cfg, func(so *awss3.Options) {
		if loc.endpoint != "" {
			so.BaseEndpoint = aws.String(loc.endpoint)
			so.UsePathStyle = true
		}
		// The SDK's default CRC checksums are not what every
		// S3-compatible server expects; S3 does not need them.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	c := &Client{api: api, bucket: loc.bucket, prefix: loc.prefix, region: loc.region, slow: httpClient(completeTimeout)}
	if err := c.ensureBucket(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// newRetryer is the SDK's standard retryer with few attempts, short
// backoff and no client-side retry quota (which, once spent in an outage,
// fails requests after the server is back).
func newRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.MaxBackoff = maxBackoff
		o.RateLimiter = ratelimit.None
	})
}

// httpClient is the SDK's HTTP client with a dial timeout, and a timeout
// for the reply's headers but none for bodies, which carry media.
func httpClient(headers time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = dialTimeout }).
		WithTransportOptions(func(t *http.Transport) { t.ResponseHeaderTimeout = headers })
}

// ensureBucket creates the bucket if it does not exist. Another process
// may create it at the same time: whoever loses finds it there.
func (c *Client) ensureBucket(ctx context.Context) error {
	_, err := c.api.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &c.bucket})
	if err == nil {
		return nil
	}
	if httpStatus(err) != http.StatusNotFound {
		return c.wrap(ctx, "open bucket", c.bucket, err)
	}
	in := &awss3.CreateBucketInput{Bucket: &c.bucket}
	if c.region != "us-east-1" {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(c.region),
		}
	}
	_, err = c.api.CreateBucket(ctx, in)
	if err == nil || errors.As(err, new(*types.BucketAlreadyOwnedByYou)) {
		return nil
	}
	if _, herr := c.api.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &c.bucket}); herr == nil {
		return nil // created meanwhile by another process
	}
	return c.wrap(ctx, "create bucket", c.bucket, err)
}

// Ping checks that the bucket answers, for readiness probes. Any failure
// wraps mp3converter.ErrUnavailable.
func (c *Client) Ping(ctx context.Context) error {
	if _, err := c.api.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &c.bucket}); err != nil {
		return fmt.Errorf("s3 ping %s: %w: %w", c.bucket, mp3converter.ErrUnavailable, err)
	}
	return nil
}

// Close releases the client. It holds nothing that needs closing (idle
// connections time out), so it returns nil.
func (c *Client) Close() error { return nil }

// Store is one kind of blob in a Client's bucket: the objects
// PREFIX/KIND/ID. It is safe for concurrent use.
type Store struct {
	c      *Client
	prefix string // the key of blob id is prefix+id
}

var (
	_ mp3converter.BlobStore   = (*Store)(nil)
	_ mp3converter.BlobStater  = (*Store)(nil)
	_ mp3converter.BlobFetcher = (*Store)(nil)
)

// Store returns the store of blobs of kind, such as "videos" or "mp3s": a
// name without slashes.
func (c *Client) Store(kind string) *Store {
	return &Store{c: c, prefix: path.Join(c.prefix, kind) + "/"}
}

// key is the object key of blob id.
func (s *Store) key(id string) *string { return aws.String(s.prefix + id) }

// Ping checks that the store's bucket answers, for readiness probes. Any
// failure wraps mp3converter.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error { return s.c.Ping(ctx) }

// Close returns nil: the Client holds the connections.
func (s *Store) Close() error { return nil }
