package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/gate"
)

type gateOptions struct {
	asserts         []string
	baseline        []string
	maxRegression   []string
	stages          []string
	alpha           float64
	format          string
	junit           string
	allowOverloaded bool
	allowNoisy      bool
}

const gateExamples = `  # Thresholds on one results file (every stage, or one: c=8:ttft.p95 < 800ms)
  llmload gate results.json --assert 'ttft.p95 < 800ms' --assert 'output_tps >= 40' --assert 'errors.rate == 0'

  # Repeated runs against a baseline: a change fails when significant and beyond its tolerance
  llmload run --sim -c 4 -n 20 --repeat 5 -o current.json
  llmload gate current.json --baseline main.json --max-regression 'e2e.p95=+10%,output_tps=-5%'

  # Files of several runs each: quote a baseline glob, or give its directory
  llmload gate current/*.json --baseline 'baseline/*.json'

  # JUnit for the CI's test tab; Go benchmark lines for benchstat
  llmload gate current.json --baseline main.json --junit gate.xml
  llmload gate main.json --format benchstat > old.txt && llmload gate current.json --format benchstat > new.txt && benchstat old.txt new.txt`

func newGateCmd(s *streams) *cobra.Command {
	o := &gateOptions{}
	cmd := &cobra.Command{
		Use:   "gate FILE...",
		Short: "Pass or fail results in CI: thresholds, and changes against a baseline with honest statistics",
		Long: `Judge results files (from run or sweep) and exit 0 (pass), 1 (a check failed) or 2 (bad input:
an unreadable file, an unknown metric, an assertion that does not parse, a stage whose client
self-check says the client was overloaded, unless --allow-overloaded, or a run that says it is
noisy — measured on a busy machine, or with outliers where nothing queues — unless --allow-noisy).

Assertions, --assert '[STAGE:]METRIC OP VALUE[UNIT]', apply to every stage (or to --stage, or to
the stage named before the colon: 'c=8:ttft.p95 < 800ms'). OP is <, <=, >, >=, == or !=. A bare
number is in the results file's unit: milliseconds for latencies, per second for rates, a
fraction for errors.rate; or give a unit: ns us ms s m h, /s, %, MiB GiB, W, J. With repeated
runs (run --repeat N, or several files) an assertion judges the median of the runs.

Metrics, read from each stage:
` + gate.MetricHelp() + `
Against a baseline (--baseline), each metric of --max-regression is compared stage by stage
(default ` + gate.DefaultTolerances + `): the per-run values of both
sides by a two-sided Mann-Whitney U test (exact for small samples without ties, else the normal
approximation with tie correction). A change fails only when it is significant (p < --alpha)
and beyond its tolerance; not significant is shown as ~ with its p-value. A tolerance is
METRIC=[+|-|±]AMOUNT: + fails a rise, - a fall, ± either (default: the metric's worse
direction); AMOUNT is a percentage of the baseline (10%) or an amount (50ms, 1pp). With fewer
than 4 runs a side no change can be significant at 0.05: the gate then says so and judges by
the tolerance alone. Medians carry a distribution-free confidence interval (6 runs for 95%).
Runs are paired by their stage and by the labels that vary within a side (a sweep's
num_parallel); a label constant on each side, such as a commit, may differ.

The table goes to stdout; with $GITHUB_STEP_SUMMARY set, markdown is appended to it.`,
		Example: gateExamples,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("give at least one results file (see '%s --help')", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGate(s, o, args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.asserts, "assert", nil, "threshold '[STAGE:]METRIC OP VALUE', e.g. 'ttft.p95 < 800ms' (repeatable)")
	f.StringArrayVar(&o.baseline, "baseline", nil, "baseline results: a file, a directory of .json files, or a quoted glob (repeatable)")
	f.StringArrayVar(&o.maxRegression, "max-regression", nil, "tolerances against the baseline, e.g. 'e2e.p95=+10%,output_tps=-5%' (default "+gate.DefaultTolerances+")")
	f.StringArrayVar(&o.stages, "stage", nil, "judge only this stage, e.g. c=8 (repeatable; default every stage)")
	f.Float64Var(&o.alpha, "alpha", gate.DefaultAlpha, "significance level of baseline comparisons")
	f.StringVarP(&o.format, "format", "f", "table", "stdout: table, markdown, or benchstat (Go benchmark lines of the current runs; the table goes to stderr)")
	f.StringVar(&o.junit, "junit", "", "also write JUnit XML here, one test case per check")
	f.BoolVar(&o.allowOverloaded, "allow-overloaded", false, "judge stages whose client self-check says the client was overloaded")
	f.BoolVar(&o.allowNoisy, "allow-noisy", false, "judge runs that say they are noisy (a busy machine, outliers where nothing queues)")
	return cmd
}

func runGate(s *streams, o *gateOptions, args []string) error {
	var opts gate.Options
	for _, a := range o.asserts {
		as, err := gate.ParseAssertion(a)
		if err != nil {
			return usageErrorf("--assert: %w", err)
		}
		opts.Assertions = append(opts.Assertions, as)
	}
	for _, m := range o.maxRegression {
		ts, err := gate.ParseTolerances(m)
		if err != nil {
			return usageErrorf("--max-regression: %w", err)
		}
		opts.Tolerances = append(opts.Tolerances, ts...)
	}
	if len(o.maxRegression) > 0 && len(o.baseline) == 0 {
		return usageErrorf("--max-regression needs --baseline")
	}
	if !(o.alpha > 0 && o.alpha < 1) {
		return usageErrorf("--alpha must lie between 0 and 1, got %v", o.alpha)
	}
	opts.Alpha, opts.Stages, opts.AllowOverloaded, opts.AllowNoisy = o.alpha, o.stages, o.allowOverloaded, o.allowNoisy
	switch o.format {
	case "table", "markdown", "benchstat":
	default:
		return usageErrorf("--format must be table, markdown or benchstat, got %q", o.format)
	}
	if len(opts.Assertions) == 0 && len(o.baseline) == 0 && o.format != "benchstat" {
		return usageErrorf("nothing to check: give --assert EXPR or --baseline FILE (see 'llmload gate --help')")
	}

	curPaths, err := expandPaths(args, "")
	if err != nil {
		return err
	}
	basePaths, err := expandPaths(o.baseline, "--baseline: ")
	if err != nil {
		return err
	}
	if err := checkSides(args, curPaths, basePaths); err != nil {
		return err
	}
	if o.junit != "" {
		var inputs []namedPath
		for _, p := range curPaths {
			inputs = append(inputs, namedPath{"a results file it judges", p})
		}
		for _, p := range basePaths {
			inputs = append(inputs, namedPath{"a --baseline file", p})
		}
		if err := checkOverlap([]namedPath{{"--junit", o.junit}}, inputs); err != nil {
			return err
		}
		if err := checkWritable(namedPath{"--junit", o.junit}); err != nil {
			return err
		}
	}
	current, err := readSide(curPaths)
	if err != nil {
		return err
	}
	var baseline gate.Input
	if len(basePaths) > 0 {
		if baseline, err = readSide(basePaths); err != nil {
			return err
		}
	}

	res, err := gate.Evaluate(current, baseline, opts)
	var oe *gate.OverloadedError
	var ne *gate.NoisyError
	var ie *results.InputError
	switch {
	case errors.As(err, &oe):
		return &exitError{code: exitBadInput, err: fmt.Errorf("%w; rerun with less load or a bigger client, or pass --allow-overloaded to judge anyway", err)}
	case errors.As(err, &ne):
		return &exitError{code: exitBadInput, err: fmt.Errorf("%w; rerun on a quieter machine, or pass --allow-noisy to judge anyway", err)}
	case errors.As(err, &ie):
		return &exitError{code: exitBadInput, err: err}
	case err != nil:
		return fmt.Errorf("gate: %w", err)
	}

	switch o.format {
	case "markdown":
		err = gate.WriteMarkdown(s.out, res)
	case "benchstat":
		var named []results.Metric
		for _, a := range opts.Assertions {
			named = append(named, a.Metric)
		}
		for _, t := range opts.Tolerances {
			named = append(named, t.Metric)
		}
		if err = gate.WriteBenchstat(s.out, current, named); err == nil {
			err = gate.WriteTable(s.err, res)
		}
	default:
		err = gate.WriteTable(s.out, res)
	}
	if err != nil {
		return fmt.Errorf("gate: %w", err)
	}
	if o.junit != "" {
		var b bytes.Buffer
		if err := gate.WriteJUnit(&b, res); err != nil {
			return fmt.Errorf("gate: %w", err)
		}
		if err := results.WriteAtomic(o.junit, b.Bytes()); err != nil {
			return fmt.Errorf("--junit %s: %v", o.junit, err)
		}
	}
	if path := os.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
		if err := appendStepSummary(path, res); err != nil {
			// The verdict matters more than its summary page: warn and go on.
			fmt.Fprintf(s.err, "llmload: warning: $GITHUB_STEP_SUMMARY: %v\n", err)
		}
	}
	if !res.Passed() {
		return &exitError{code: exitFailed, err: fmt.Errorf("gate failed: %d of %d checks failed", res.Failed(), len(res.Checks))}
	}
	return nil
}

func appendStepSummary(path string, res *gate.Result) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := gate.WriteMarkdown(f, res); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// expandPaths turns each argument into files: a directory gives its *.json files, a glob
// (quoted, so the shell left it) its matches, anything else is taken as a file.
func expandPaths(args []string, flag string) ([]string, error) {
	var out []string
	for _, a := range args {
		if st, err := os.Stat(a); err == nil && st.IsDir() {
			m, _ := filepath.Glob(filepath.Join(a, "*.json"))
			if len(m) == 0 {
				return nil, usageErrorf("%s%s: no .json files in the directory", flag, a)
			}
			sort.Strings(m)
			out = append(out, m...)
			continue
		} else if err == nil {
			out = append(out, a)
			continue
		}
		if strings.ContainsAny(a, "*?[") {
			m, err := filepath.Glob(a)
			if err != nil {
				return nil, usageErrorf("%s%s: %v", flag, a, err)
			}
			if len(m) == 0 {
				return nil, usageErrorf("%s%s: no file matches", flag, a)
			}
			sort.Strings(m)
			out = append(out, m...)
			continue
		}
		out = append(out, a) // missing: reading it says so, naming the file
	}
	return out, nil
}

// checkSides refuses a file on both sides, and catches an unquoted --baseline glob: the shell
// expands 'gate cur.json --baseline base/*.json' so that only the first baseline file goes to
// --baseline and the rest trail the arguments as current files. Trailing arguments that sit
// beside a baseline file and sort after it, behind current files from elsewhere, are that.
func checkSides(args, cur, base []string) error {
	inBase := map[string]bool{}
	lastInDir := map[string]string{}
	for _, b := range base {
		c := filepath.Clean(b)
		inBase[c] = true
		d := filepath.Dir(c)
		if c > lastInDir[d] {
			lastInDir[d] = c
		}
	}
	for _, c := range cur {
		if inBase[filepath.Clean(c)] {
			return usageErrorf("%s is given both as a current file and as --baseline", c)
		}
	}
	trailing := 0
	for i := len(args) - 1; i > 0; i-- {
		c := filepath.Clean(args[i])
		last, ok := lastInDir[filepath.Dir(c)]
		if !ok || c < last {
			break
		}
		trailing++
	}
	if trailing > 0 && trailing < len(args) {
		first := filepath.Clean(args[len(args)-trailing])
		if filepath.Dir(filepath.Clean(args[0])) != filepath.Dir(first) {
			return usageErrorf("%s sits beside the baseline but was given as a current file: an unquoted --baseline glob hands all but its first file to the current side; quote it (--baseline '%s/*.json') or give the directory (--baseline %s/)",
				args[len(args)-trailing], filepath.Dir(first), filepath.Dir(first))
		}
	}
	return nil
}

func readSide(paths []string) (gate.Input, error) {
	files, err := results.ReadFiles(paths)
	if err != nil {
		return gate.Input{}, &exitError{code: exitBadInput, err: err}
	}
	return gate.Input{Files: files, Sources: paths}, nil
}
