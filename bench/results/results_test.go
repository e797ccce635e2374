package results

import (
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
