package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The end-to-end tests check every answer of our servers against
// docs/openapi.yaml, so that the document cannot drift from what clients
// really get.

// apiRouter finds requests' operations in docs/openapi.yaml, loaded once
// per test binary.
var apiRouter = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromFile("../../docs/openapi.yaml")
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, err
	}
	// Match any host: the servers listen on random loopback ports.
	local := *doc
	local.Servers = nil
	return gorillamux.NewRouter(&local)
})

// testOnlyServers are host:ports of servers that stand in for the original
// system in tests; their answers are not ours to check.
var testOnlyServers sync.Map

// unreadBodies are the media types whose bodies are not checked: binary
// downloads and event streams. Their status and type still are.
var unreadBodies = map[string]bool{"audio/mpeg": true, "multipart/byteranges": true, "text/event-stream": true}

// checkAPI fails t if resp, the answer to req with body, is not as
// docs/openapi.yaml says, or req is not a documented route.
func checkAPI(t testing.TB, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	checkResponse(t, req, resp, body, false)
}

// checkAPIHead is checkAPI for a response whose body is still being read,
// such as an event stream: its status and headers only.
func checkAPIHead(t testing.TB, req *http.Request, resp *http.Response) {
	t.Helper()
	checkResponse(t, req, resp, nil, true)
}

func checkResponse(t testing.TB, req *http.Request, resp *http.Response, body []byte, headOnly bool) {
	t.Helper()
	if _, ok := testOnlyServers.Load(req.URL.Host); ok {
		return
	}
	if err := validateResponse(req, resp.StatusCode, resp.Header, body, headOnly); err != nil {
		t.Errorf("%s %s: answered %d %s, which docs/openapi.yaml does not allow: %v",
			req.Method, req.URL.RequestURI(), resp.StatusCode, resp.Header.Get("Content-Type"), err)
	}
}

func validateResponse(req *http.Request, status int, header http.Header, body []byte, headOnly bool) error {
	router, err := apiRouter()
	if err != nil {
		return fmt.Errorf("docs/openapi.yaml: %w", err)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("no documented route: %w", err)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	ctype := header.Get("Content-Type")
	mediaType, _, _ := mime.ParseMediaType(ctype)
	if headOnly || unreadBodies[mediaType] {
		opts.ExcludeResponseBody = true
	}
	if r := route.Operation.Responses.Status(status); r != nil && r.Value != nil {
		content := r.Value.Content
		switch {
		case len(content) == 0 && len(body) > 0:
			return fmt.Errorf("a body where the document has none: %.100q", body)
		case len(content) > 0 && (len(body) > 0 || headOnly) && content.Get(ctype) == nil:
			return fmt.Errorf("undocumented content type %q", ctype)
		}
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	})
}
