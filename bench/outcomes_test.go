package bench

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"slices"
	"strconv"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

// classConsts reads the outcome classes a package declares: its constants named Class…, by
// name, with their values.
func classConsts(t *testing.T, file string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || len(name.Name) <= len("Class") || name.Name[:len("Class")] != "Class" {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				out[name.Name] = v
			}
		}
	}
	return out
}

// The engine's outcome classes (api.Class) and the names a reader of results files knows
// (results.Class…, results.ErrorClasses) are the same set, under the same names: a class added
// to one and not the other would be counted but never listed, or listed but never counted.
func TestOutcomeClassesMatch(t *testing.T) {
	engine := classConsts(t, "api/api.go")
	file := classConsts(t, "results/classes.go")
	if len(engine) < 10 || !maps.Equal(engine, file) {
		t.Errorf("api's classes %v\nresults' %v", engine, file)
	}
	var failures []string
	for _, v := range engine {
		if v != results.ClassOK {
			failures = append(failures, v)
		}
	}
	listed := results.ErrorClasses()
	if slices.Sort(failures); !slices.Equal(failures, slices.Sorted(slices.Values(listed))) {
		t.Errorf("ErrorClasses %v, the failure classes %v", listed, failures)
	}
}
