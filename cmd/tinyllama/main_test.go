package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	var stdout, stderr bytes.Buffer
	if err := run([]string{"-out", dir, "-preset", "small", "-seed", "2"}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v (stderr %q)", err, stderr.String())
	}
	for _, f := range []string{"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "Modelfile"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if !strings.Contains(stdout.String(), "preset small, seed 2, F16, 3.67M params") {
		t.Errorf("stdout %q", stdout.String())
	}
}

func TestRunErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m")
	for _, args := range [][]string{
		{},
		{"-out", out, "-preset", "huge"},
		{"-out", out, "-dtype", "bf16"},
		{"-out", out, "extra"},
		{"-nosuchflag"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(args, &stdout, &stderr)
		var usage usageError
		if !errors.As(err, &usage) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("a failed run wrote %s", out)
	}
	// A folder that cannot be created is a run-time error, not a usage error.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := run([]string{"-out", filepath.Join(file, "sub")}, &stdout, &stderr)
	var usage usageError
	if err == nil || errors.As(err, &usage) {
		t.Errorf("unwritable -out: %v, want a run-time error", err)
	}
}
