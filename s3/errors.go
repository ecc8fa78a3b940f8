package s3

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/mp3converter/mp3converter"
)

// wrap wraps err, the SDK's error for operation op on name (a blob id or
// the bucket), with them, and with mp3converter.ErrUnavailable if it is an
// outage. The end of the caller's own context is never an outage.
func (c *Client) wrap(ctx context.Context, op, name string, err error) error {
	if ctx.Err() == nil && unavailable(err) {
		return fmt.Errorf("s3 %s %s: %w: %w", op, name, mp3converter.ErrUnavailable, err)
	}
	return fmt.Errorf("s3 %s %s: %w", op, name, err)
}

// unavailable reports whether err says the server could not be reached or
// could not serve: a connection failure or timeout, a 5xx reply, or
// throttling (503 SlowDown, 429). Other 4xx replies are the request's own.
func unavailable(err error) bool {
	if status := httpStatus(err); status != 0 {
		return status >= 500 || status == http.StatusTooManyRequests
	}
	return errors.As(err, new(net.Error)) || errors.As(err, new(*smithyhttp.RequestSendError))
}

// httpStatus is the HTTP status of the server's reply in err, or 0 if
// there was none.
func httpStatus(err error) int {
	if re, ok := errors.AsType[*awshttp.ResponseError](err); ok {
		return re.HTTPStatusCode()
	}
	return 0
}

// errorCode is the S3 error code in err ("NoSuchKey"), or "".
func errorCode(err error) string {
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		return ae.ErrorCode()
	}
	return ""
}

// conflict reports whether err is a conditional write's refusal: 412 the
// object exists, or 409 another conditional write of the key is under way
// (AWS S3), which concurrent Puts of one id also are.
func conflict(err error) bool {
	return httpStatus(err) == http.StatusPreconditionFailed || errorCode(err) == "ConditionalRequestConflict"
}
