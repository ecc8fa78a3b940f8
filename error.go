package mp3converter

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status in the http layer.
const (
	EINVALID      = "invalid"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"
	ETOOLARGE     = "too_large"
	ETOOMANY      = "too_many_requests"
	ETIMEOUT      = "timeout" // the client sent its request too slowly
	EUNAVAILABLE  = "unavailable"
	// EINSUFFICIENTSTORAGE is a store out of space: the request may
	// succeed later, once space is freed.
	EINSUFFICIENTSTORAGE = "insufficient_storage"
	EINTERNAL            = "internal"
)

// Error is an error whose Message may be shown to the user. Errors of any
// other type are internal: they are logged, and the user sees "internal error".
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Sentinel errors that adapters wrap, e.g.
// fmt.Errorf("gridfs get %s: %w", id, mp3converter.ErrNotFound).
var (
	ErrNotFound    = &Error{Code: ENOTFOUND, Message: "not found"}
	ErrConflict    = &Error{Code: ECONFLICT, Message: "already exists"}
	ErrUnavailable = &Error{Code: EUNAVAILABLE, Message: "service temporarily unavailable"}
	// ErrInsufficientStorage is what a BlobStore wraps when its disk or
	// quota is full (ENOSPC, EDQUOT); nothing of the blob is kept.
	ErrInsufficientStorage = &Error{Code: EINSUFFICIENTSTORAGE, Message: "the server is out of storage space; try again later"}
)

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	return errorField(err, func(e *Error) string { return e.Code }, EINTERNAL)
}

// ErrorMessage returns the user-facing message of err: the Message of the
// first *Error in its chain, or "internal error".
func ErrorMessage(err error) string {
	return errorField(err, func(e *Error) string { return e.Message }, "internal error")
}

// errorField is field of the first *Error in err's chain, other for any
// other error, and "" for nil.
func errorField(err error, field func(*Error) string, other string) string {
	if e, ok := errors.AsType[*Error](err); ok {
		return field(e)
	}
	if err == nil {
		return ""
	}
	return other
}

// Permanent marks err as one that retrying cannot fix (a file that is not
// media, a video without audio, a malformed message). A queue does not
// redeliver a message whose handler returned a permanent error.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

type permanentError struct{ error }

func (p permanentError) Unwrap() error { return p.error }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
