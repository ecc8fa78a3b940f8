package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
)

// Accepted is the answer to an upload.
type Accepted struct {
	JobID    string `json:"job_id"`
	VideoFID string `json:"video_fid"`
	Status   string `json:"status"`
}

// UploadFile uploads the file at path under its base name, with the
// upload's options (form fields); see Upload. A file that cannot be
// opened is an *fs.PathError naming path; a directory or other file that
// is not a regular one is an error naming path too.
func (c *Client) UploadFile(ctx context.Context, path string, options url.Values, progress func(sent int64)) (*Accepted, error) {
	f, st, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return c.Upload(ctx, filepath.Base(path), f, st.Size(), options, progress)
}

// openRegular opens the regular file at path; anything else (a directory,
// a device) is an error naming path.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is not a regular file", path)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// Upload sends size bytes of r as the file name of a multipart form and
// returns the queued job. options are the upload's options, POST
// /upload's form fields (quality, bitrate, channels...: see
// mp3converter.OptionNames), sent before the file in the order of their
// names, as the server wants them; nil for the defaults. It streams r,
// and progress (if not nil) is called with the bytes of r sent so far.
// The body's length is exact, so that the server refuses a file over its
// limit (413) before any of it is sent. The server's refusals (400 for a
// bad option, 413, 429 with RetryAfter, 507...) are *APIErrors.
func (c *Client) Upload(ctx context.Context, name string, r io.Reader, size int64, options url.Values, progress func(sent int64)) (*Accepted, error) {
	head, tail, ctype, err := multipartFrame(name, options)
	if err != nil {
		return nil, err
	}
	body := io.MultiReader(bytes.NewReader(head), &countingReader{r: io.LimitReader(r, size), fn: progress},
		bytes.NewReader(tail))
	req, err := c.request(ctx, http.MethodPost, "/upload", body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = int64(len(head)) + size + int64(len(tail))
	req.Header.Set("Content-Type", ctype)
	resp, err := c.send(req)
	if err != nil {
		return nil, fmt.Errorf("upload %s: %w", name, err)
	}
	defer resp.Body.Close()
	var a Accepted
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return nil, fmt.Errorf("upload %s: reading the answer: %w", name, err)
	}
	return &a, nil
}

// multipartFrame returns what goes before and after the file's bytes in a
// multipart form of the fields and one file, and the form's content type.
func multipartFrame(name string, fields url.Values) (head, tail []byte, ctype string, err error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		for _, v := range fields[k] {
			if err := mw.WriteField(k, v); err != nil {
				return nil, nil, "", err
			}
		}
	}
	if _, err := mw.CreateFormFile("file", name); err != nil {
		return nil, nil, "", err
	}
	head = bytes.Clone(b.Bytes())
	b.Reset()
	if err := mw.Close(); err != nil {
		return nil, nil, "", err
	}
	return head, bytes.Clone(b.Bytes()), mw.FormDataContentType(), nil
}

// countingReader reports the bytes read so far.
type countingReader struct {
	r  io.Reader
	n  int64
	fn func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.fn != nil && n > 0 {
		c.fn(c.n)
	}
	return n, err
}
