package httpapi

// POST /upload with the file itself as the body (curl -X POST -T, or
// --data-binary): no multipart form to scan, so the body goes from the
// socket to the video store in one copy. Its name comes from Content-Disposition or the
// filename query parameter, its options from the query.

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/mp3converter/mp3converter"
)

// isRawUpload reports whether an upload's Content-Type is a file's own,
// not a form's: application/octet-stream, video/* or audio/*.
func isRawUpload(r *http.Request) bool {
	d, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && (d == "application/octet-stream" || strings.HasPrefix(d, "video/") || strings.HasPrefix(d, "audio/"))
}

var errEmptyBody = mp3converter.Errorf(mp3converter.EINVALID, "the body is empty: send the video file as the body, or a multipart form with one file")

// readRawVideo streams r's body, the file, to the video store under
// MaxUpload, with the options of r's query. It returns the stored video,
// or the error for the client, having stored nothing.
func (g *Gateway) readRawVideo(r *http.Request) (video, error) {
	if r.ContentLength > g.MaxUpload {
		return video{}, g.errTooLarge()
	}
	if r.ContentLength == 0 {
		return video{}, errEmptyBody
	}
	q := r.URL.Query()
	v := video{filename: mp3converter.SanitizeFilename(rawFilename(r, q))}
	if err := queryOptions(q, &v.opts); err != nil {
		return video{}, err
	}
	if err := v.opts.Validate(); err != nil {
		return video{}, err
	}
	fid := mp3converter.NewID()
	lr := &limitedReader{r: r.Body, left: g.MaxUpload}
	size, err := g.Videos.Put(r.Context(), fid, lr)
	g.Metrics.UploadBytes(g.MaxUpload - lr.left)
	switch {
	case err != nil && lr.err != nil:
		return video{}, g.bodyError(r, lr.err) // the client's doing, whatever the store made of it
	case err != nil:
		return video{}, err
	case size == 0: // chunked, and empty
		g.deleteBlob(g.Videos, fid)
		return video{}, errEmptyBody
	}
	v.fid, v.size = fid, size
	return v, nil
}

// rawFilename is the name a raw upload gives its file: Content-Disposition's
// filename (RFC 6266, filename* included), else the filename parameter
// of its query q.
func rawFilename(r *http.Request, q url.Values) string {
	if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition")); err == nil && params["filename"] != "" {
		return params["filename"]
	}
	return q.Get("filename")
}

// queryOptions sets opts from the upload options among q's parameters,
// each given once; other parameters are ignored, as a form's other fields.
func queryOptions(q url.Values, opts *mp3converter.Options) error {
	for _, name := range mp3converter.OptionNames {
		vals, ok := q[name]
		if !ok {
			continue
		}
		if len(vals) > 1 {
			return mp3converter.Errorf(mp3converter.EINVALID, "invalid option %s: given %d times", name, len(vals))
		}
		if err := setOption(opts, name, vals[0]); err != nil {
			return err
		}
	}
	return nil
}
