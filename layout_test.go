package mp3converter_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestLayout keeps what ARCHITECTURE.md promises: no function (or function
// literal) longer than 80 lines and no non-test file longer than 500
// anywhere in the repository, and a thin main that only parses commands.
func TestLayout(t *testing.T) {
	const maxFunc, maxFile, maxMain = 80, 500, 500
	mainLines := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		lines := strings.Count(string(src), "\n")
		if !strings.HasSuffix(path, "_test.go") && lines > maxFile {
			t.Errorf("%s: %d lines; split it by what its parts know (at most %d)", path, lines, maxFile)
		}
		if filepath.Dir(path) == filepath.Join("cmd", "mp3converter") && !strings.HasSuffix(path, "_test.go") {
			mainLines += lines
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, src, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var body *ast.BlockStmt
			switch fn := n.(type) {
			case *ast.FuncDecl:
				body = fn.Body
			case *ast.FuncLit:
				body = fn.Body
			}
			if body != nil {
				start, end := fset.Position(n.Pos()), fset.Position(body.Rbrace)
				if lines := end.Line - start.Line + 1; lines > maxFunc {
					t.Errorf("%s: a function of %d lines; split it (at most %d)", start, lines, maxFunc)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if mainLines == 0 || mainLines >= maxMain {
		t.Errorf("cmd/mp3converter has %d lines of non-test code; want 1 to %d: the wiring belongs in package app", mainLines, maxMain-1)
	}
}

// The import rules ARCHITECTURE.md states: the domain (this package)
// imports no package of the module; roles never import engines; engines
// never import each other or a role. Only app knows both sides. What
// engines share is under internal/, which imports no role, engine, app or
// client: the ffmpeg engine's parts (internal/probe and its mp4, mkv and
// codec, internal/mp3frame, internal/parallel) included; only
// internal/testsupport, which gives tests their throwaway servers, may
// open an engine. The
// command-line client, cli, knows the server by its HTTP API only: it
// imports client, internal/ packages and the domain (whose rules, such as
// the upload options', it checks a command line by, as the server checks
// a request), never app, a role or an engine.
func TestImports(t *testing.T) {
	const module = "github.com/mp3converter/mp3converter/"
	roles := []string{"httpapi", "auth", "conversion", "notification", "retention", "webhook", "jobfeed"}
	engines := []string{"sqlite", "mysql", "goqite", "rabbitmq", "gridfs", "localfs", "s3", "smtp", "ffmpeg"}
	imports := func(dir string) []string {
		t.Helper()
		var out []string
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range f.Imports {
				switch p := strings.Trim(imp.Path.Value, `"`); {
				case p == strings.TrimSuffix(module, "/"):
					out = append(out, ".") // the domain
				case strings.HasPrefix(p, module):
					out = append(out, strings.TrimPrefix(p, module))
				}
			}
		}
		return out
	}
	in := func(p string, list []string) bool { return slices.Contains(list, strings.SplitN(p, "/", 2)[0]) }
	if got := imports("."); len(got) > 0 {
		t.Errorf("the domain imports %v; it must import no package of the module", got)
	}
	for _, r := range roles {
		for _, p := range imports(r) {
			if in(p, engines) || p == "app" {
				t.Errorf("role %s imports %s: roles see engines only through the domain's interfaces", r, p)
			}
		}
	}
	for _, e := range engines {
		for _, p := range imports(e) {
			if p != e && (in(p, engines) || in(p, roles) || p == "app") {
				t.Errorf("engine %s imports %s: engines share code through internal/ only", e, p)
			}
		}
	}
	err := filepath.WalkDir("internal", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() == "testdata" {
			return err
		}
		if dir == filepath.Join("internal", "testsupport") {
			return nil // the tests' throwaway servers: it may open an engine
		}
		for _, p := range imports(dir) {
			if in(p, engines) || in(p, roles) || p == "app" || p == "cli" || p == "client" {
				t.Errorf("%s imports %s: internal/ is what engines and roles share, below them", dir, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range imports("cli") {
		if p != "client" && p != "." && !strings.HasPrefix(p, "internal/") {
			t.Errorf("cli imports %s: the client knows the server by its HTTP API (package client) and the domain's rules only", p)
		}
	}
}
