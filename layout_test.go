package mp3converter_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayout keeps what ARCHITECTURE.md promises: no function (or function
// literal) longer than 80 lines anywhere in the repository, and a thin main
// that only parses commands.
func TestLayout(t *testing.T) {
	const maxFunc, maxMain = 80, 500
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
		if filepath.Dir(path) == filepath.Join("cmd", "mp3converter") && !strings.HasSuffix(path, "_test.go") {
			mainLines += strings.Count(string(src), "\n")
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
