package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/hostload/hostloadtest"
)

// A sweep in rounds on a machine busy with other work says so before its recommendation, and
// its results files carry it, so that the gate refuses them; on a quiet machine it says
// nothing of the kind. The machine is a fake /proc: the noise logic, not real load.
func TestSweepOnABusyMachineIsNoisy(t *testing.T) {
	for _, busy := range []bool{true, false} {
		dir := t.TempDir()
		sys, stdout, stderr := testSystem(nil)
		sys.proc = &hostloadtest.Ticking{Busy: busy}
		err := execute(sys, []string{"sweep", "--sim", "--sim-speed", "4", "--num-parallel", "1,2", "-c", "2", "-n", "4", "--max-tokens", "16",
			"--rounds", "3", "--gpu", "off", "--no-progress", "-o", dir + "/"}, nil, nil)
		if err != nil {
			t.Fatalf("busy %v: %v\n%s", busy, err, stderr)
		}
		out := strings.Join(strings.Fields(stdout.String()), " ") // as read, not as wrapped
		comparison := out[max(0, strings.Index(out, "NOISY: the machine was busy with other work")):]
		lead := strings.Index(out, "NOISY: the machine was busy with other work during all 6 runs: other processes used 100% of its CPUs")
		rec := strings.Index(out, "Recommended: num_parallel=")
		if busy && (lead < 0 || rec < lead || !strings.Contains(comparison, "Compared by num_parallel")) {
			t.Errorf("busy: the comparison does not lead with the busy machine:\n%s", stdout.String()[:min(3000, stdout.Len())])
		}
		if !busy && strings.Contains(out, "machine was busy") {
			t.Errorf("quiet: the machine was said busy:\n%s", out)
		}
		files, _ := filepath.Glob(filepath.Join(dir, "num_parallel-*.round-*.json"))
		if len(files) != 6 {
			t.Fatalf("busy %v: %d results files, want 6 (2 settings × 3 rounds)", busy, len(files))
		}
		noisy := 0
		for _, f := range files {
			if strings.Contains(strings.Join(readResults(t, f).Runs[0].Noise, "\n"), "noisy: the machine was busy") {
				noisy++
			}
		}
		if busy && noisy != 6 || !busy && noisy != 0 {
			t.Errorf("busy %v: %d of 6 runs say the machine was busy", busy, noisy)
		}
		if busy {
			gsys, _, _ := testSystem(nil)
			err := execute(gsys, append(append([]string{"gate"}, files...), "--assert", "errors.rate == 0"), nil, nil)
			if exitCode(err) != exitBadInput || !strings.Contains(errorText(err), "noisy") {
				t.Errorf("gate on the busy sweep: %v (exit %d), want it refused as noisy", err, exitCode(err))
			}
		}
	}
}
