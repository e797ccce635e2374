package report

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/llmload/llmload/bench/results"
)

// Format is an output format of Render.
type Format string

// Formats Render writes.
const (
	// FormatMarkdown is a report for GitHub and a terminal pager, with SVG charts when
	// Options.ChartsDir is set and a Mermaid chart inline.
	FormatMarkdown Format = "markdown"
	// FormatText has the markdown report's tables and prose for a terminal.
	FormatText Format = "text"
	// FormatHTML is the markdown report as one standalone page for a browser.
	FormatHTML Format = "html"
	// FormatCSV is one row per run × stage with every metric, in a fixed column order.
	FormatCSV Format = "csv"
	// FormatJSON is the runs' summaries (merged with Options.Merge) and the comparison.
	FormatJSON Format = "json"
	// FormatHgrm is HdrHistogram's percentile distribution text, per run × stage.
	FormatHgrm Format = "hgrm"
)

// Formats lists the formats in the order --help shows them.
func Formats() []Format {
	return []Format{FormatMarkdown, FormatText, FormatHTML, FormatCSV, FormatJSON, FormatHgrm}
}

// ParseFormat reads a --format value; "md" is markdown.
func ParseFormat(s string) (Format, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "md" || s == "" {
		return FormatMarkdown, nil
	}
	for _, f := range Formats() {
		if string(f) == s {
			return f, nil
		}
	}
	names := make([]string, 0, 6)
	for _, f := range Formats() {
		names = append(names, string(f))
	}
	return "", fmt.Errorf("unknown format %q (want %s)", s, strings.Join(names, ", "))
}

// badInput marks err as the input's fault (*results.InputError): an unknown format or metric,
// a --by label no run has, files that do not merge, a histogram that does not decode.
func badInput(err error) error {
	if err == nil {
		return nil
	}
	var ie *results.InputError
	if errors.As(err, &ie) {
		return err
	}
	return &results.InputError{Err: err}
}

// Options shape a report.
type Options struct {
	Format Format
	// By is the label whose values are compared (--by); "" means DefaultBy, and then runs
	// without it are simply not compared. A By that no run has is an error.
	By string
	// Merge folds runs with the same labels from different files (client hosts) into one.
	Merge bool
	// SLO is what the recommendation must keep.
	SLO SLO
	// Concurrency is the level settings are judged at; 0 is each one's highest.
	Concurrency int
	// KneeGain is the throughput gain a bigger setting must bring; 0 is DefaultKneeGain.
	KneeGain float64
	// ChartsDir is the folder SVG charts are written to (markdown and HTML); "" draws none.
	ChartsDir string
	// ChartsLink is how the report refers to ChartsDir, relative to the report file; ""
	// means ChartsDir's base name (the charts folder beside the report, see ChartsFor).
	ChartsLink string
	// Metric is the latency distribution of the hgrm format and of the percentile chart
	// (a results.Metric* name); "" is E2E (the chart then also shows TTFT).
	Metric string
	// Sources name the files, parallel to Render's files, as the report shows them. Give
	// what the user typed (or base names): the report prints them.
	Sources []string
}

// ChartsFor returns where the charts of a report written to reportPath go, and the link the
// report uses for them: REPORT.md → REPORT_files beside it, linked as "REPORT_files".
func ChartsFor(reportPath string) (dir, link string) {
	base := filepath.Base(reportPath)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	link = stem + "_files"
	return filepath.Join(filepath.Dir(reportPath), link), link
}

// Render writes a report of the files in opts.Format. Markdown and HTML also write SVG
// charts into opts.ChartsDir when it is set. Nothing is printed but to w.
func Render(w io.Writer, files []*results.File, opts Options) error {
	if opts.Format == "" {
		opts.Format = FormatMarkdown
	}
	if opts.ChartsDir != "" && opts.ChartsLink == "" {
		opts.ChartsLink = filepath.Base(opts.ChartsDir)
	}
	if _, err := ParseFormat(string(opts.Format)); err != nil {
		return badInput(err)
	}
	if opts.Metric != "" && !knownMetric(opts.Metric) {
		return badInput(fmt.Errorf("unknown metric %q (want one of %s)", opts.Metric, strings.Join(histogramMetrics(), ", ")))
	}
	es := entries(files, opts.Sources)
	if len(es) == 0 {
		return badInput(errors.New("the results files hold no runs"))
	}
	var mergeNotes []string
	if opts.Merge {
		var err error
		es, mergeNotes, err = mergeEntries(es)
		if err != nil {
			return badInput(err)
		}
	}
	if opts.By != "" && !anyLabel(es, opts.By) {
		return badInput(fmt.Errorf("no run has the label %s (labels: %s)", opts.By, labelNames(es)))
	}
	nameByLabel(es, cmp.Or(opts.By, DefaultBy))
	capNames(es)
	switch opts.Format {
	case FormatCSV:
		return writeCSV(w, es, opts)
	case FormatJSON:
		return writeJSON(w, es, opts, mergeNotes)
	case FormatHgrm:
		return writeHgrm(w, es, opts)
	}
	b := newBuilder(es, opts, mergeNotes)
	doc, err := b.build()
	if err != nil {
		return err
	}
	switch opts.Format {
	case FormatText:
		return doc.writeText(w)
	case FormatHTML:
		return doc.writeHTML(w, opts.ChartsLink, b.title())
	default:
		return doc.writeMarkdown(w, opts.ChartsLink)
	}
}

func anyLabel(es []*entry, key string) bool {
	for _, e := range es {
		if _, ok := e.run.Labels[key]; ok {
			return true
		}
	}
	return false
}

func labelNames(es []*entry) string {
	names := map[string]bool{}
	for _, e := range es {
		for k := range e.run.Labels {
			names[k] = true
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(names)), ", ")
}

// histogramMetrics are the distributions a results file keeps histograms of.
func histogramMetrics() []string {
	return []string{results.MetricE2E, results.MetricService, results.MetricTTFT, results.MetricITL, results.MetricTPOT, results.MetricSendLag, results.MetricResidual}
}

func knownMetric(m string) bool {
	for _, k := range histogramMetrics() {
		if k == m {
			return true
		}
	}
	return false
}

// comparable returns the comparison of the entries by the report's label, nil when fewer
// than two settings are present.
func comparable(es []*entry, opts Options) *Comparison {
	c := compareEntries(es, CompareOptions{By: opts.By, SLO: opts.SLO, Concurrency: opts.Concurrency, KneeGain: opts.KneeGain})
	if len(c.Settings) < 2 {
		return nil
	}
	return c
}
