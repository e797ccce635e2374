package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `llmload capacity --sim`: on a simulator with 2 slots and an objective that a queued request
// misses, the answer is 2 users; the file holds the levels and the answer, the report leads with
// it and the gate checks it. (--allow-noisy: other test packages share this machine.)
func TestCapacityCommand(t *testing.T) {
	dir := t.TempDir()
	// A decode step of 20 ms at the speed used: a request of 8 tokens holds its slot ~160 ms,
	// so a queued one's first token comes ~160 ms late, an unqueued one's in ~20 ms.
	profile := filepath.Join(dir, "slow.yaml")
	if err := os.WriteFile(profile, []byte("models:\n  - from: llama3.2:1b\n    decode_step: 200ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := llmload(t, dir, "capacity", "--sim", "--sim-num-parallel", "2", "--sim-speed", "10", "--sim-profile", profile, "--max-tokens", "8",
		"--slo", "ttft.p95=90ms", "--max-users", "8", "--allow-noisy", "--no-progress", "-o", "cap.json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(strings.TrimSpace(r.stdout), "The simulated server (llama3.2:1b) serves 2 users at once within ttft.p95 ≤ 90ms; at 3 users ttft.p95") {
		t.Errorf("answer:\n%s", r.stdout)
	}
	f := readResults(t, filepath.Join(dir, "cap.json"))
	if c := f.Capacity; c == nil || c.MaxConcurrency != 2 || c.FirstFailing != 3 || len(f.Runs) != len(c.Steps) {
		t.Fatalf("capacity %+v with %d runs", f.Capacity, len(f.Runs))
	}
	rep := llmload(t, dir, "report", "cap.json", "-f", "text")
	if rep.code != 0 || !strings.Contains(rep.stdout, "serves 2 users at once") {
		t.Errorf("report: exit %d\n%s%s", rep.code, rep.stdout, rep.stderr)
	}
	for _, tt := range []struct {
		assert string
		code   int
	}{{"capacity.max_concurrency >= 2", 0}, {"capacity.max_concurrency >= 4", 1}} {
		g := gateCmd(t, dir, "", "gate", "cap.json", "--assert", tt.assert)
		if g.code != tt.code {
			t.Errorf("gate --assert %q: exit %d, want %d\n%s%s", tt.assert, g.code, tt.code, g.stdout, g.stderr)
		}
	}
	// Bad input names the flag.
	if r := llmload(t, dir, "capacity", "--sim", "--slo", "ttft.p95=soon"); r.code != 2 || !strings.Contains(r.stderr, "--slo") {
		t.Errorf("bad --slo: exit %d\n%s", r.code, r.stderr)
	}
}
