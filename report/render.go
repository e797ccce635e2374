package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/analysis"
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
	// FormatJSON is the analysis itself: the runs' summaries (merged with Options.Merge),
	// what was judged of them, the comparison, the notes and the definitions.
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

// badInput marks err as the input's fault (*results.InputError): an unknown format or
// metric, a histogram that does not decode.
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

// Options shape a report: what to analyse (By … Sources, as analysis.Options) and how to
// render it.
type Options struct {
	Format Format
	// By is the label whose values are compared (--by); "" means analysis.DefaultBy, and then
	// runs without it are simply not compared. A By that no run has is an error.
	By string
	// Merge folds runs with the same labels from different files (client hosts) into one.
	Merge bool
	// SLO is what the recommendation must keep.
	SLO analysis.SLO
	// Concurrency is the level settings are judged at; 0 is each one's highest.
	Concurrency int
	// KneeGain is the throughput gain a bigger setting must bring; 0 is
	// analysis.DefaultKneeGain.
	KneeGain float64
	// ChartsDir is the folder the SVG charts of a markdown report are written to; "" draws
	// none. An HTML page holds its charts inline instead (see NoCharts).
	ChartsDir string
	// NoCharts draws no chart in an HTML page.
	NoCharts bool
	// ChartsLink is how the report refers to ChartsDir, relative to the report file; ""
	// means ChartsDir's base name (the charts folder beside the report, see ChartsFor).
	ChartsLink string
	// Metric is the latency distribution of the hgrm format and of the percentile chart
	// (a results.Metric* name); "" is E2E (the chart then also shows TTFT).
	Metric string
	// Run and Stage select the one distribution the hgrm format writes (by the names the
	// report gives them); "" is every one, and a selection of several is refused.
	Run, Stage string
	// Sources name the files, parallel to Render's files, as the report shows them. Give
	// what the user typed (or base names): the report prints them.
	Sources []string
}

// Charts say where the SVG charts of a markdown or HTML report go: Dir is the folder ("" draws
// none), Link how the report refers to it, Metric the latency distribution of the percentile
// chart ("" is E2E and TTFT). Inline draws them into the page itself (HTML) instead of Dir.
type Charts struct {
	Dir, Link, Metric string
	Inline            bool
}

// ChartsFor returns where the charts of a report written to reportPath go, and the link the
// report uses for them: REPORT.md → REPORT_files beside it, linked as "REPORT_files".
func ChartsFor(reportPath string) (dir, link string) {
	base := filepath.Base(reportPath)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	link = stem + "_files"
	return filepath.Join(filepath.Dir(reportPath), link), link
}

// Render analyses the files and writes the analysis in opts.Format. Markdown and HTML also
// write SVG charts into opts.ChartsDir when it is set. Nothing is printed but to w.
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
	if opts.Metric != "" && !slices.Contains(histogramMetrics(), opts.Metric) {
		return badInput(fmt.Errorf("unknown metric %q (want one of %s)", opts.Metric, strings.Join(histogramMetrics(), ", ")))
	}
	a, err := analysis.Analyze(files, analysis.Options{By: opts.By, Merge: opts.Merge, SLO: opts.SLO,
		Concurrency: opts.Concurrency, KneeGain: opts.KneeGain, Sources: opts.Sources})
	if err != nil {
		return err
	}
	charts := Charts{Dir: opts.ChartsDir, Link: opts.ChartsLink, Metric: opts.Metric}
	switch opts.Format {
	case FormatCSV:
		return WriteCSV(w, a)
	case FormatJSON:
		return WriteJSON(w, a)
	case FormatHgrm:
		return WriteHgrm(w, a, HgrmSelection{Run: opts.Run, Stage: opts.Stage, Metrics: nonEmpty(opts.Metric)})
	case FormatText:
		return WriteText(w, a)
	case FormatHTML:
		return WriteHTML(w, a, Charts{Inline: !opts.NoCharts, Metric: opts.Metric})
	}
	return WriteMarkdown(w, a, charts)
}

// HgrmFiles analyses the files as Render does and returns the distributions the hgrm format
// would write, one per file: those of opts.Run and opts.Stage (every one when empty) and of
// opts.Metric (every distribution the stages keep when empty).
func HgrmFiles(files []*results.File, opts Options) ([]HgrmTable, error) {
	metrics := nonEmpty(opts.Metric)
	if len(metrics) == 0 {
		metrics = histogramMetrics()
	}
	a, err := analysis.Analyze(files, analysis.Options{By: opts.By, Merge: opts.Merge, SLO: opts.SLO,
		Concurrency: opts.Concurrency, KneeGain: opts.KneeGain, Sources: opts.Sources})
	if err != nil {
		return nil, err
	}
	return HgrmTables(a, HgrmSelection{Run: opts.Run, Stage: opts.Stage, Metrics: metrics})
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// WriteMarkdown writes an analysis as a GitHub-flavoured markdown report, and its SVG charts
// into charts.Dir when that is set.
func WriteMarkdown(w io.Writer, a *analysis.Analysis, charts Charts) error {
	doc, err := newBuilder(a, charts).build()
	if err != nil {
		return err
	}
	return doc.writeMarkdown(w, charts.Link)
}

// WriteHTML writes an analysis as one standalone page: with charts.Inline its SVG charts are
// in the page itself, else they go into charts.Dir when that is set.
func WriteHTML(w io.Writer, a *analysis.Analysis, charts Charts) error {
	b := newBuilder(a, charts)
	doc, err := b.build()
	if err != nil {
		return err
	}
	return doc.writeHTML(w, charts.Link, b.title())
}

// WriteText writes an analysis for a terminal: the markdown report's tables and prose,
// without charts.
func WriteText(w io.Writer, a *analysis.Analysis) error {
	doc, err := newBuilder(a, Charts{}).build()
	if err != nil {
		return err
	}
	return doc.writeText(w)
}

// WriteJSON writes an analysis as it is: the runs' summaries (without histograms and time
// series), what was judged of them, the comparison, the notes and the definitions.
func WriteJSON(w io.Writer, a *analysis.Analysis) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the names hold <stat>; nobody pastes this into a page
	enc.SetIndent("", "  ")
	if err := enc.Encode(a); err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// WriteComparison prints a comparison for a terminal — the recommendation and its reasons,
// a row per setting at its judged level, and throughput and latency by load — as
// `llmload sweep` shows it at the end.
func WriteComparison(w io.Writer, c *analysis.Comparison) error {
	if c == nil {
		return errors.New("write comparison: nothing to compare")
	}
	b := &builder{a: &analysis.Analysis{Comparison: c}}
	// What makes the figures doubtful comes before the recommendation.
	for _, n := range c.Notes {
		if n.Kind == analysis.KindNoisy {
			b.doc.p(plain("NOISY" + strings.TrimPrefix(n.Text, "Noisy")))
		}
	}
	if err := b.comparison(); err != nil {
		return err
	}
	for _, n := range c.Notes {
		if n.Kind != analysis.KindNoisy {
			b.doc.p(plain("note: " + n.Text))
		}
	}
	return b.doc.writeText(w)
}

// histogramMetrics are the distributions a results file keeps histograms of.
func histogramMetrics() []string {
	return []string{results.MetricE2E, results.MetricService, results.MetricTTFT, results.MetricITL, results.MetricTPOT, results.MetricSendLag, results.MetricResidual, results.MetricCapWait}
}
