package bench

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// The results package names the outcome classes as plain strings, so that reading a results
// file does not link the HTTP client; the engine counts api.Class values under string(class).
// Both lists must agree: every api.Class constant (read from the api package's source, so a
// new one cannot be missed) has its twin in results, and no results class lacks one.
func TestOutcomeClassesAgree(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("api", "*.go"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("api sources: %v %v", paths, err)
	}
	var fromAPI []string
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Class" {
					continue
				}
				for _, v := range vs.Values {
					s, err := strconv.Unquote(v.(*ast.BasicLit).Value)
					if err != nil {
						t.Fatal(err)
					}
					fromAPI = append(fromAPI, s)
				}
			}
		}
	}
	want := append([]string{results.ClassOK}, results.ErrorClasses()...)
	slices.Sort(fromAPI)
	slices.Sort(want)
	if !slices.Equal(fromAPI, want) {
		t.Errorf("api classes %q\nresults classes %q", fromAPI, want)
	}
	// A few by name, so a renamed constant on either side shows here too.
	for _, c := range []struct {
		api     api.Class
		results string
	}{
		{api.ClassOK, results.ClassOK}, {api.ClassConnRefused, results.ClassConnRefused},
		{api.ClassBusy, results.ClassBusy}, {api.ClassTruncated, results.ClassTruncated},
		{api.ClassTimeoutFirstByte, results.ClassTimeoutFirstByte}, {api.ClassHTTPOther, results.ClassHTTPOther},
	} {
		if string(c.api) != c.results {
			t.Errorf("api %q, results %q", c.api, c.results)
		}
	}
}
