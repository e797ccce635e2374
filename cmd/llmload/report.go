package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report"
	"github.com/llmload/llmload/report/analysis"
)

type reportOptions struct {
	format      string
	output      string
	by          string
	merge       bool
	slo         string
	concurrency int
	kneeGain    float64
	metric      string
	noCharts    bool
	run, stage  string
}

const reportExamples = `  # Markdown to stdout
  llmload report results.json

  # A NUM_PARALLEL sweep as a report, with SVG charts in REPORT_files/ beside it
  llmload report sweep/*.json -o REPORT.md

  # Other formats: a terminal, a spreadsheet, scripts, HdrHistogram's plotter, a browser
  llmload report a.json b.json --format text
  llmload report sweep/*.json --format csv > runs.csv
  llmload report results.json --format hgrm --stage c=8 --metric ttft > ttft.hgrm
  llmload report sweep/*.json --format hgrm -o hgrm/     # a file per run, stage and metric

  # Runs of one plan from several client hosts, merged losslessly (HDR merge)
  llmload report host-a.json host-b.json --merge

  # Compare by another label, against an objective
  llmload report *.json --by kv_cache --slo ttft_p95=2s,e2e_p95=30s`

func newReportCmd(s *streams) *cobra.Command {
	o := &reportOptions{}
	cmd := &cobra.Command{
		Use:   "report FILE...",
		Short: "Turn results files into a markdown report (or text, HTML, CSV, JSON, hgrm)",
		Long: `Read results files (from run or sweep) and render them: a verdict, the run facts, a table per
stage, the comparison of runs that differ in NUM_PARALLEL (or the label --by names) with a
recommendation, the latency decomposition, errors by class, and notes on what to trust.
It never runs anything: it reads files only.

With -o REPORT.md, SVG charts are written to REPORT_files/ beside it and linked; a Mermaid chart
is inline so the report shows a picture even where only the .md file is uploaded. An HTML report
(-f html) is one self-contained page, its charts inline SVG, on stdout as with -o: it can be
attached to a CI job or mailed.`,
		Example: reportExamples,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageErrorf("give at least one results file (see '%s --help')", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(s, o, args)
		},
	}
	f := cmd.Flags()
	names := make([]string, 0, len(report.Formats()))
	for _, fm := range report.Formats() {
		names = append(names, string(fm))
	}
	f.StringVarP(&o.format, "format", "f", "markdown", "output format: "+strings.Join(names, ", "))
	f.StringVarP(&o.output, "output", "o", "", "write the report to this file (default stdout); charts go beside it")
	f.StringVar(&o.by, "by", "", "label whose values are compared (default num_parallel)")
	f.BoolVar(&o.merge, "merge", false, "merge runs with the same labels from several files, measured at once by several client hosts, losslessly (runs made one after the other stay apart)")
	f.StringVar(&o.slo, "slo", "", "objective the recommendation must meet, METRIC=LIMIT with the metric names of 'llmload gate', e.g. ttft_p95=2s,errors.rate=1%")
	f.IntVar(&o.concurrency, "concurrency", 0, "judge settings at this closed-loop concurrency (default: each one's highest)")
	f.Float64Var(&o.kneeGain, "knee-gain", 0, "throughput gain a bigger setting must bring to be worth it (default 0.10)")
	f.StringVar(&o.metric, "metric", "", "latency distribution for hgrm and the percentile chart: e2e, service, ttft, itl, tpot, send_lag, residual, cap_wait (default e2e; hgrm -o DIR/: every one; queue wait is the residual less a constant)")
	f.StringVar(&o.run, "run", "", "with --format hgrm: the run whose distribution to write, by its name in the report (e.g. num_parallel=4)")
	f.StringVar(&o.stage, "stage", "", "with --format hgrm: the stage whose distribution to write, e.g. c=8")
	f.BoolVar(&o.noCharts, "no-charts", false, "draw no charts (markdown: no REPORT_files folder; HTML: no inline SVG)")
	return cmd
}

func runReport(s *streams, o *reportOptions, paths []string) error {
	format, err := report.ParseFormat(o.format)
	if err != nil {
		return usageErrorf("--format: %v", err)
	}
	slo, err := analysis.ParseSLO(o.slo)
	if err != nil {
		return usageErrorf("--slo: %v", err)
	}
	if o.concurrency < 0 || o.kneeGain < 0 {
		return usageErrorf("--concurrency and --knee-gain must not be negative")
	}
	if format != report.FormatHgrm && (o.run != "" || o.stage != "") {
		return usageErrorf("--run and --stage select the distribution of --format hgrm; the other formats show every run and stage")
	}
	if format == report.FormatHgrm && o.output != "" && isFolderArg(o.output) {
		return writeHgrmFiles(s, o, paths)
	}
	if o.output != "" {
		var inputs []namedPath
		for _, p := range paths {
			inputs = append(inputs, namedPath{"a results file it reads", p})
		}
		if err := checkOverlap([]namedPath{{"-o", o.output}}, inputs); err != nil {
			return err
		}
		if err := checkWritable(namedPath{"-o", o.output}); err != nil {
			return err
		}
	}
	files, err := results.ReadFiles(paths)
	if err != nil {
		return &exitError{code: exitBadInput, err: err}
	}
	opts := report.Options{
		Format: format, By: o.by, Merge: o.merge, SLO: slo, Concurrency: o.concurrency,
		KneeGain: o.kneeGain, Metric: o.metric, Sources: paths, Run: o.run, Stage: o.stage,
	}
	// A markdown report's charts go in a folder beside it; an HTML page holds its own.
	if o.output != "" && !o.noCharts && isFileTarget(o.output) && format == report.FormatMarkdown {
		opts.ChartsDir, opts.ChartsLink = report.ChartsFor(o.output)
	}
	opts.NoCharts = o.noCharts
	// Rendered whole before anything is written: a failed render leaves no half report.
	var buf bytes.Buffer
	if err := report.Render(&buf, files, opts); err != nil {
		var several *report.ErrSeveralHgrm
		if errors.As(err, &several) {
			return usageErrorf("--format hgrm: %d distributions selected, and HdrHistogram's plotter reads one per file: pick one with --run and --stage, or give -o DIR/ for a file each", len(several.Tables))
		}
		var ie *results.InputError
		if errors.As(err, &ie) {
			return &exitError{code: exitBadInput, err: err}
		}
		return fmt.Errorf("report: %w", err)
	}
	if o.output == "" {
		_, err := s.out.Write(buf.Bytes())
		return err
	}
	if err := results.WriteAtomic(o.output, buf.Bytes()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintf(s.err, "report written to %s", o.output)
	if opts.ChartsDir != "" {
		fmt.Fprintf(s.err, " (charts in %s)", opts.ChartsDir)
	}
	fmt.Fprintln(s.err)
	return nil
}

// writeHgrmFiles writes the distributions --format hgrm selects into the folder -o names, one
// file per run, stage and metric (every distribution the stages keep unless --metric names
// one), as HdrHistogram's plotter reads them.
func writeHgrmFiles(s *streams, o *reportOptions, paths []string) error {
	files, err := results.ReadFiles(paths)
	if err != nil {
		return &exitError{code: exitBadInput, err: err}
	}
	tables, err := report.HgrmFiles(files, report.Options{By: o.by, Merge: o.merge, Metric: o.metric, Sources: paths, Run: o.run, Stage: o.stage})
	if err != nil {
		var ie *results.InputError
		if errors.As(err, &ie) {
			return &exitError{code: exitBadInput, err: err}
		}
		return fmt.Errorf("report: %w", err)
	}
	var outputs []namedPath
	var inputs []namedPath
	for _, p := range paths {
		inputs = append(inputs, namedPath{"a results file it reads", p})
	}
	for _, t := range tables {
		outputs = append(outputs, namedPath{"-o", filepath.Join(o.output, t.FileName())})
	}
	if err := checkOverlap(outputs, inputs); err != nil {
		return err
	}
	if err := checkWritable(outputs...); err != nil {
		return err
	}
	for i, t := range tables {
		var buf bytes.Buffer
		if err := t.Write(&buf); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := results.WriteAtomic(outputs[i].path, buf.Bytes()); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	fmt.Fprintf(s.err, "%d hgrm files written to %s\n", len(tables), o.output)
	return nil
}

// isFileTarget says whether path is (or will be) a regular file, beside which charts can go;
// /dev/null or a pipe gets the report alone.
func isFileTarget(path string) bool {
	fi, err := os.Stat(path)
	return err != nil || fi.Mode().IsRegular()
}
