package httpapi

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// loadOpenAPI loads docs/openapi.yaml, which may refer to nothing outside.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromFile("../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestOpenAPIValid checks that docs/openapi.yaml is a valid OpenAPI 3.0
// document without stray keys: in flow-style YAML a comma inside an unquoted
// description starts another key ("{description: issued at, Unix seconds}"),
// which tools read as a property or an unknown field.
func TestOpenAPIValid(t *testing.T) {
	doc := loadOpenAPI(t)
	// As strictly as kin-openapi can: formats, patterns, defaults and
	// examples included, and no extensions beside a $ref.
	err := doc.Validate(context.Background(), openapi3.EnableSchemaFormatValidation(),
		openapi3.EnableSchemaPatternValidation(), openapi3.EnableSchemaDefaultsValidation(),
		openapi3.EnableExamplesValidation(), openapi3.ProhibitExtensionsWithRef(), openapi3.EnableMultiError())
	if err != nil {
		t.Errorf("docs/openapi.yaml is invalid: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi %q, want 3.0.x", doc.OpenAPI)
	}
	seen := map[*openapi3.Schema]bool{}
	var walk func(where string, s *openapi3.SchemaRef)
	walk = func(where string, s *openapi3.SchemaRef) {
		if s == nil || s.Value == nil || seen[s.Value] {
			return
		}
		seen[s.Value] = true
		strayKeys(t, where, s.Value.Extensions)
		for name, p := range s.Value.Properties {
			if !propertyName.MatchString(name) {
				t.Errorf("%s: stray property %q", where, name)
			}
			walk(where+"."+name, p)
		}
		walk(where+"[]", s.Value.Items)
		for _, sub := range slices.Concat(s.Value.AllOf, s.Value.AnyOf, s.Value.OneOf) {
			walk(where, sub)
		}
		if ap := s.Value.AdditionalProperties.Schema; ap != nil {
			walk(where+".*", ap)
		}
	}
	for name, s := range doc.Components.Schemas {
		walk("components.schemas."+name, s)
	}
	for name, r := range doc.Components.Responses {
		checkResponse(t, "components.responses."+name, r.Value, walk)
	}
	for path, item := range doc.Paths.Map() {
		strayKeys(t, path, item.Extensions)
		for method, op := range item.Operations() {
			where := method + " " + path
			strayKeys(t, where, op.Extensions)
			for _, p := range slices.Concat(item.Parameters, op.Parameters) {
				strayKeys(t, where+" parameter", p.Value.Extensions)
				walk(where+" parameter "+p.Value.Name, p.Value.Schema)
			}
			if op.RequestBody != nil {
				for ct, mt := range op.RequestBody.Value.Content {
					walk(where+" request "+ct, mt.Schema)
				}
			}
			if op.Responses.Len() == 0 {
				t.Errorf("%s has no responses", where)
			}
			for status, r := range op.Responses.Map() {
				checkResponse(t, where+" "+status, r.Value, walk)
			}
		}
	}
}

// propertyName is how every JSON field of the API is spelled.
var propertyName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// strayKeys reports keys that are no extension: YAML keys that the loader
// did not know, such as the tail of a description cut at a comma.
func strayKeys(t *testing.T, where string, ext map[string]any) {
	t.Helper()
	for k := range ext {
		if !strings.HasPrefix(k, "x-") {
			t.Errorf("%s: stray key %q", where, k)
		}
	}
}

func checkResponse(t *testing.T, where string, r *openapi3.Response, walk func(string, *openapi3.SchemaRef)) {
	t.Helper()
	if r == nil {
		return
	}
	strayKeys(t, where, r.Extensions)
	for name, h := range r.Headers {
		walk(where+" header "+name, h.Value.Schema)
	}
	for ct, mt := range r.Content {
		strayKeys(t, where+" "+ct, mt.Extensions)
		walk(where+" "+ct, mt.Schema)
	}
}

// TestOpenAPI checks that docs/openapi.yaml documents exactly the routes the
// gateway serves.
func TestOpenAPI(t *testing.T) {
	doc := loadOpenAPI(t)
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	var served []string
	for pattern := range (&Gateway{}).allRoutes() {
		served = append(served, pattern)
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Errorf("openapi.yaml documents\n  %v\nthe gateway serves\n  %v", documented, served)
	}
}
