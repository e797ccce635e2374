package results

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteAtomicReplacesRegularFilesOnly(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	f := &File{Schema: Schema, Tool: Tool{Name: "llmload", Version: "test"}, Runs: []*Run{{Plan: &Plan{}}}}
	if err := f.Write(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("results file mode %v, err %v: want 0644", fi.Mode(), err)
	}
	if _, err := ReadFile(path); err != nil {
		t.Fatal(err)
	}
	// A named pipe stands for /dev/null or /dev/stdout: it must still be a pipe afterwards.
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no mkfifo here:", err)
	}
	got := make(chan string, 1)
	go func() {
		b, _ := os.ReadFile(fifo)
		got <- string(b)
	}()
	if err := f.Write(fifo); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(<-got, `"schema": "llmload/v1"`) {
		t.Error("the pipe's reader did not get the results")
	}
	if fi, err := os.Stat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the pipe was replaced: mode %v, err %v", fi.Mode(), err)
	}
}

// fixtures holds results files made by real (simulated) runs, and broken ones.
const fixtures = "../../testdata/results"

// Files that are not results a report can use fail with the file's name and what is wrong.
func TestReadFilesErrorsNameTheFile(t *testing.T) {
	bad := filepath.Join(fixtures, "bad")
	tests := []struct {
		file string
		want string
	}{
		{"other-schema.json", `results schema "llmload/v2" is not supported`},
		{"truncated.json", "truncated results file"},
		{"not-results.json", `not an llmload results file (no "schema" field)`},
		{"empty.json", "empty file"},
		{"no-runs.json", "results file holds no runs"},
		{"missing.json", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(bad, tt.file)
			good := filepath.Join(fixtures, "run-np1.json")
			_, err := ReadFiles([]string{good, path})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q should name %s and say %q", err, path, tt.want)
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Errorf("error %v is not an InputError", err)
			}
		})
	}
	if _, err := ReadFiles(nil); err == nil {
		t.Error("ReadFiles(nil) did not fail")
	}
}
