package results

import (
	"bytes"
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

func TestDecodeRefusesNulls(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{`{"schema":"llmload/v1","runs":[null]}`, "runs[0] is null"},
		{`{"schema":"llmload/v1","runs":[{"stages":[null]}]}`, "runs[0].stages[0] is null"},
		{`{"schema":"llmload/v1","runs":[{"stages":[],"plan":{"mix":[null]}}]}`, "runs[0].plan.mix[0] is null"},
		{`{"schema":"llmload/v1","runs":[{"stages":[{"by_model":{"m":null}}]}]}`, `runs[0].stages[0].by_model["m"] is null`},
	} {
		_, err := Decode(strings.NewReader(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.doc, err, tt.want)
		}
	}
}

// FuzzDecode: any bytes give a file or an error, never a panic, and a file has no null that a
// reader would trip on.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"schema":"llmload/v1","runs":[{"stages":[{"name":"c=1","latency_ms":{"e2e":{"n":1}}}],"plan":{"mix":[{"model":"m"}]}}]}`,
		`{"schema":"llmload/v1","runs":[{"stages":[null]}]}`,
		`{"schema":"llmload/v1","runs":[{"gpu_series":{"samples":[{"at_ms":1,"device":0}]}}]}`,
		`{"schema":"llmload/v2"}`, `{}`, `[`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		if err := file.check(); err != nil {
			t.Fatalf("decoded a file that fails its own check: %v", err)
		}
	})
}
