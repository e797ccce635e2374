package results

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCheckWritable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		ok   bool
	}{
		{filepath.Join(dir, "new.json"), true},
		{filepath.Join(dir, "made", "deeper", "new.json"), true},
		{file, true},
		{"/dev/null", true},
		{dir, false},
		{filepath.Join(file, "x.json"), false},
	} {
		if err := CheckWritable(tt.path); (err == nil) != tt.ok {
			t.Errorf("CheckWritable(%s) = %v, want ok=%v", tt.path, err, tt.ok)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new.json")); err == nil {
		t.Error("the check left the file behind")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*check*")); len(m) > 0 {
		t.Errorf("the check left %v", m)
	}
}

func TestSameFile(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.json")
	if err := os.WriteFile(a, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{a, "a.json", true},
		{"./a.json", "a.json", true},
		{"new.json", filepath.Join(dir, "new.json"), true},
		{"a.json", "b.json", false},
		{"/dev/null", "/dev/null", false},
		{"", "", false},
	} {
		if got := SameFile(tt.a, tt.b); got != tt.same {
			t.Errorf("SameFile(%s, %s) = %v", tt.a, tt.b, got)
		}
	}
}
