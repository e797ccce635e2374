package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/results"
)

// namedPath is a file a command reads or writes, with the flag (or argument) that names it.
type namedPath struct {
	flag, path string
}

// isFolderArg says whether -o names a folder: it ends in a slash, or is one already.
func isFolderArg(o string) bool {
	if strings.HasSuffix(o, "/") || strings.HasSuffix(o, string(filepath.Separator)) {
		return true
	}
	fi, err := os.Stat(o)
	return err == nil && fi.IsDir()
}

// runOutput is where run writes its results: -o as given, or llmload-<time>.json here or, when
// -o names a folder, inside it (as sweep writes inside the folder it is given).
func runOutput(o string, now time.Time) string {
	name := fmt.Sprintf("llmload-%s.json", now.Format("20060102-150405"))
	switch {
	case o == "":
		return name
	case isFolderArg(o):
		return filepath.Join(o, name)
	}
	return o
}

// checkOverlap refuses an output that would overwrite an input, or another output: each
// output is written whole at the end, and a plan, prompt or results file it replaced would be
// lost.
func checkOverlap(outputs, inputs []namedPath) error {
	for i, out := range outputs {
		for _, in := range inputs {
			if results.SameFile(out.path, in.path) {
				return usageErrorf("%s %s is also %s: it would be overwritten; write the output elsewhere", out.flag, out.path, in.flag)
			}
		}
		for _, other := range outputs[:i] {
			if results.SameFile(out.path, other.path) {
				return usageErrorf("%s %s is also %s %s: give each output its own file", out.flag, out.path, other.flag, other.path)
			}
		}
	}
	return nil
}

// checkWritable makes sure, before anything is measured or read, that each output can be
// written: its folder exists (it is made when missing) and takes a new file.
func checkWritable(outputs ...namedPath) error {
	for _, o := range outputs {
		if o.path == "" {
			continue
		}
		if err := results.CheckWritable(o.path); err != nil {
			return usageErrorf("%s %s: cannot write there: %v", o.flag, o.path, err)
		}
	}
	return nil
}

// runInputs are the files a run reads: its plan, the prompt, body and length files of its
// workload, and the simulator's profiles.
func (o *runFlags) runInputs(work *bench.Workload) []namedPath {
	in := []namedPath{{"the --plan file", o.planFile}, {"the --sim-profile file", o.sim.profileFile}}
	for _, p := range work.Inputs() {
		in = append(in, namedPath{"an input of the workload (a prompt, body or length file)", p})
	}
	return in
}
