// Package analysis judges results files before any format: it names the runs, merges them
// (report --merge), compares settings and recommends one, finds the knee, checks the SLO, and
// gathers what a reader must know as notes. Its one value, Analysis, is what every report
// format renders and what the JSON format writes; it links no chart library.
package analysis

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/prose"
)

// Schema names the JSON form of an Analysis (llmload report --format json).
const Schema = "llmload-report/v2"

// MinP99Samples is the number of samples below which a p99 is little more than the maximum:
// with fewer than 100 requests, "1 in 100" has not happened once.
const MinP99Samples = 100

// Options shape an analysis.
type Options struct {
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
	// Sources name the files, parallel to Analyze's files, as the report shows them. Give
	// what the user typed (or base names): the report prints them.
	Sources []string
}

// Analysis is everything a report says about results files: the runs and their stages with
// what was judged of each, the comparison and recommendation, the knee, and the notes. The
// renderers show nothing that is not in it, so its JSON form holds all a report shows except
// the charts' raw series (histograms and time series stay in the results files).
type Analysis struct {
	Schema string `json:"schema"`
	// By is the label runs are compared by.
	By   string `json:"by"`
	Runs []*Run `json:"runs"`
	// Totals count the requests of every stage of every run.
	Totals Totals `json:"totals"`
	// Comparison sets the runs side by side by By; nil when fewer than two settings are present.
	Comparison *Comparison `json:"comparison,omitempty"`
	// BestStage is the stage with the most output tokens per second.
	BestStage *StageRef `json:"best_stage,omitempty"`
	// Knee is where throughput stops growing across the stages of a lone run.
	Knee *Knee `json:"knee,omitempty"`
	// Notes are the caveats a reader must know, most important first.
	Notes []Note `json:"notes,omitempty"`
	// Definitions are the metric definitions the report prints (the catalogue's).
	Definitions []results.Definition `json:"definitions"`
	// Capacities are the answers of `llmload capacity` the files hold, each with its sentence.
	Capacities []CapacityAnswerOf `json:"capacities,omitempty"`
}

// CapacityAnswerOf is one file's capacity search: the answer in words, and the data.
type CapacityAnswerOf struct {
	Answer   string            `json:"answer"`
	Capacity *results.Capacity `json:"capacity"`
}

// Run is one run as a report shows it: the run's facts, a name that is unique within the
// report, where it came from, and its stages.
type Run struct {
	Name string `json:"name"`
	// Sources are the file it came from, or the files merged into it.
	Sources []string `json:"sources"`
	// Merged says the run was folded from several files (--merge).
	Merged      bool                `json:"merged,omitempty"`
	Labels      map[string]string   `json:"labels,omitempty"`
	Models      []string            `json:"models,omitempty"`
	Target      results.Target      `json:"target"`
	Host        results.Host        `json:"host"`
	Server      *results.ServerInfo `json:"server,omitempty"`
	Started     time.Time           `json:"started"`
	Ended       time.Time           `json:"ended"`
	Interrupted bool                `json:"interrupted,omitempty"`
	Warmup      *results.Warmup     `json:"warmup,omitempty"`
	Baseline    *results.Baseline   `json:"queue_wait_baseline,omitempty"`
	GPU         *results.GPUInfo    `json:"gpu,omitempty"`
	Stages      []*Stage            `json:"stages"`
	// Notes are the run's own notes, as its results file carries them.
	Notes []string `json:"notes,omitempty"`
	// Noise is what made the run's figures doubtful, as its results file says it ("noisy: …").
	Noise []string `json:"noise,omitempty"`
	// Control is the run's control figure: a lone request's decode rate.
	Control *results.Control `json:"control,omitempty"`
	// Data is the run as read (or merged): the histograms and time series the charts draw.
	Data *results.Run `json:"-"`
}

// Source is the file a run came from, the first of them when merged.
func (r *Run) Source() string {
	if len(r.Sources) == 0 {
		return ""
	}
	return r.Sources[0]
}

// Stage is one stage of a run: its figures as the results file holds them, and what the
// analysis read in them.
type Stage struct {
	Name                 string                     `json:"name"`
	Concurrency          int                        `json:"concurrency"`
	Rate                 float64                    `json:"rate"`
	Arrival              string                     `json:"arrival,omitempty"`
	MaxConcurrency       int                        `json:"max_concurrency,omitempty"`
	StartS               float64                    `json:"start_s"`
	WallS                float64                    `json:"wall_s"`
	Requests             results.Counts             `json:"requests"`
	Throughput           results.Throughput         `json:"throughput"`
	OutputTokens         int64                      `json:"output_tokens"`
	TokenSource          string                     `json:"token_source,omitempty"`
	PromptTokens         int64                      `json:"prompt_tokens,omitempty"`
	LatencyMs            map[string]results.Summary `json:"latency_ms"`
	Decomposition        *results.Decomposition     `json:"decomposition,omitempty"`
	EffectiveParallelism float64                    `json:"effective_parallelism"`
	Speedup              float64                    `json:"speedup_vs_first,omitempty"`
	Client               results.ClientCheck        `json:"client"`
	// GPU is the stage's GPU summary, nil when nothing was measured.
	GPU *results.GPUStageSummary `json:"gpu,omitempty"`
	// Saturation counts a capped open loop's arrivals that found no free place.
	Saturation *results.Saturation `json:"saturation,omitempty"`

	// Failed counts the failed requests (the errors metric).
	Failed int `json:"failed"`
	// FewSamples are the latency distributions whose p99 rests on fewer than MinP99Samples
	// samples: close to the maximum, not a stable estimate.
	FewSamples []string `json:"p99_few_samples,omitempty"`
	// QueueWaitHoldsBatchSharing says the queue wait is slot wait plus batch sharing: more
	// than one request was in flight on a server with more than one slot.
	QueueWaitHoldsBatchSharing bool `json:"queue_wait_holds_batch_sharing,omitempty"`
	// TimeSplit is where the mean E2E went; nil when it cannot be split.
	TimeSplit *TimeSplit `json:"time_split,omitempty"`
	// Classes are the stage's figures per traffic class, when the mix has several.
	Classes map[string]*Class `json:"classes,omitempty"`
	// Goodput counts the requests that met the per-request objective, when one was given.
	Goodput *results.Goodput `json:"goodput,omitempty"`
	// Machine is how busy the machine was with other work.
	Machine *results.MachineLoad `json:"machine,omitempty"`
	// Data is the stage as read: its histograms, timeline and per-model figures.
	Data *results.StageResult `json:"-"`
}

// Class is one traffic class of a stage, without its histograms.
type Class struct {
	Requests     results.Counts             `json:"requests"`
	Throughput   results.Throughput         `json:"throughput"`
	OutputTokens int64                      `json:"output_tokens"`
	LatencyMs    map[string]results.Summary `json:"latency_ms"`
	Goodput      *results.Goodput           `json:"goodput,omitempty"`
}

// Load is the stage's load level.
func (s *Stage) Load() Load { return keyOf(s.Data) }

// FewP99 reports whether the stage's p99 of a distribution rests on too few samples.
func (s *Stage) FewP99(dist string) bool { return slices.Contains(s.FewSamples, dist) }

// TimeSplit is where the mean E2E of a stage's successful requests went, in milliseconds:
// from the server's timings (Ollama's, llama-server's), or client-side, where wait and
// prefill are the mean TTFT and decode the rest of the mean E2E.
type TimeSplit struct {
	ServerTimings bool    `json:"server_timings"`
	E2E           float64 `json:"e2e_ms"`
	Load          float64 `json:"load_ms,omitempty"`
	// QueueWait is measured only with a calibrated baseline (HasQueue); without one the whole
	// residual is in Overhead.
	QueueWait float64 `json:"queue_wait_ms,omitempty"`
	HasQueue  bool    `json:"queue_wait_calibrated"`
	Prefill   float64 `json:"prefill_ms"`
	Decode    float64 `json:"decode_ms"`
	Overhead  float64 `json:"fixed_overhead_ms,omitempty"`
	Client    float64 `json:"client_ms,omitempty"`
}

// Totals count requests over every stage of every run.
type Totals struct {
	Requests int            `json:"requests"`
	Failed   int            `json:"failed"`
	Errors   map[string]int `json:"errors,omitempty"`
}

// StageRef names one stage of one run.
type StageRef struct {
	Run   string `json:"run"`
	Stage string `json:"stage"`

	run, stage int // indices into Analysis.Runs and Run.Stages
}

// Knee is where throughput stops growing across a run's closed-loop stages of rising
// concurrency: the stage after After adds less than the knee gain.
type Knee struct {
	Run   string  `json:"run"`
	After string  `json:"after"`
	Next  string  `json:"next"`
	Gain  float64 `json:"gain"`
	Text  string  `json:"text"`
}

// Lookup finds the run and stage a reference names (the one it was made for when a stage
// name repeats within a run); nil, nil when there is none.
func (a *Analysis) Lookup(ref StageRef) (*Run, *Stage) {
	if ref.run < len(a.Runs) && ref.stage < len(a.Runs[ref.run].Stages) {
		r := a.Runs[ref.run]
		if st := r.Stages[ref.stage]; r.Name == ref.Run && st.Name == ref.Stage {
			return r, st
		}
	}
	for _, r := range a.Runs {
		for _, st := range r.Stages {
			if r.Name == ref.Run && st.Name == ref.Stage {
				return r, st
			}
		}
	}
	return nil, nil
}

// Interrupted reports whether some run was stopped by Ctrl-C.
func (a *Analysis) Interrupted() bool {
	for _, r := range a.Runs {
		if r.Interrupted {
			return true
		}
	}
	return false
}

// badInput marks err as the input's fault (*results.InputError): files that do not merge, a
// --by label no run has.
func badInput(err error) error {
	var ie *results.InputError
	if errors.As(err, &ie) {
		return err
	}
	return &results.InputError{Err: err}
}

// Analyze reads the runs of files as opts asks. An error is the input's fault
// (*results.InputError): no runs, runs that do not merge, a --by label that no run has.
func Analyze(files []*results.File, opts Options) (*Analysis, error) {
	es := entries(files, opts.Sources)
	if len(es) == 0 {
		return nil, badInput(errors.New("the results files hold no runs"))
	}
	var mergeNotes []Note
	if opts.Merge {
		var err error
		es, mergeNotes, err = mergeEntries(es)
		if err != nil {
			return nil, badInput(err)
		}
	}
	for _, by := range strings.Split(opts.By, ",") {
		if opts.By != "" && !anyLabel(es, by) {
			return nil, badInput(fmt.Errorf("no run has the label %s (labels: %s)", by, labelNames(es)))
		}
	}
	a := &Analysis{Schema: Schema, By: cmp.Or(opts.By, defaultBy(es)), Definitions: results.Definitions()}
	for _, f := range files {
		if f != nil && f.Capacity != nil {
			a.Capacities = append(a.Capacities, CapacityAnswerOf{Answer: CapacityAnswer(f), Capacity: f.Capacity})
		}
	}
	nameByLabel(es, a.By)
	capNames(es)
	if c := compareEntries(es, CompareOptions{By: a.By, SLO: opts.SLO, Concurrency: opts.Concurrency, KneeGain: opts.KneeGain}); len(c.Settings) >= 2 {
		a.Comparison = c
	}
	for _, e := range es {
		a.Runs = append(a.Runs, newRun(e))
	}
	a.count()
	a.findBest()
	if len(a.Runs) == 1 && a.Comparison == nil {
		a.Knee = stageKnee(a.Runs[0], orDefaultGain(opts.KneeGain))
	}
	// A merge note concerns the run it was made for, known by name only now.
	for i, n := range mergeNotes {
		for _, e := range es {
			if len(e.merged) > 0 && slices.Contains(e.run.Notes, n.Text) {
				mergeNotes[i].Runs = []string{e.name}
				break
			}
		}
	}
	a.Notes = collectNotes(es, a.Comparison, mergeNotes)
	return a, nil
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

func newRun(e *entry) *Run {
	r := e.run
	sources := e.merged
	if len(sources) == 0 {
		sources = []string{e.source}
	}
	out := &Run{Name: e.name, Sources: sources, Merged: len(e.merged) > 0, Labels: r.Labels, Models: runModels(r),
		Target: r.Target, Host: r.Host, Server: r.Server, Started: r.Started, Ended: r.Ended, Interrupted: r.Interrupted,
		Warmup: r.Warmup, Baseline: r.Baseline, GPU: e.gpu.info, Notes: r.Notes, Noise: r.Noise, Control: r.Control, Data: r, Stages: []*Stage{}}
	for i, st := range r.Stages {
		if st == nil {
			continue
		}
		s := &Stage{
			Name: st.Name, Concurrency: st.Concurrency, Rate: st.Rate, Arrival: st.Arrival, MaxConcurrency: st.MaxConcurrency,
			StartS: st.StartS, WallS: st.WallS, Requests: st.Requests, Throughput: st.Throughput, OutputTokens: st.OutputTokens,
			TokenSource: st.TokenSource, PromptTokens: st.PromptTokens, LatencyMs: st.LatencyMs, Decomposition: st.Decomposition,
			EffectiveParallelism: st.EffectiveParallelism, Speedup: st.Speedup, Client: st.Client, GPU: e.gpu.stage(i), Saturation: st.Saturation,
			Failed: st.Requests.Failed(), QueueWaitHoldsBatchSharing: !queueIsSlotWaitOnly(r, st), TimeSplit: timeSplit(r, st), Data: st,
			Goodput: st.Goodput, Machine: st.Machine,
		}
		for name, c := range st.Classes {
			if s.Classes == nil {
				s.Classes = map[string]*Class{}
			}
			s.Classes[name] = &Class{Requests: c.Requests, Throughput: c.Throughput, OutputTokens: c.OutputTokens, LatencyMs: c.LatencyMs, Goodput: c.Goodput}
		}
		for _, k := range slices.Sorted(maps.Keys(st.LatencyMs)) {
			if n := st.LatencyMs[k].N; n > 0 && n < MinP99Samples {
				s.FewSamples = append(s.FewSamples, k)
			}
		}
		out.Stages = append(out.Stages, s)
	}
	return out
}

// runModels lists the models a run's plan names, else those the server had loaded.
func runModels(r *results.Run) []string {
	if r.Plan != nil {
		return r.Plan.Models()
	}
	var out []string
	for _, m := range r.Target.Models {
		out = append(out, m.Name)
	}
	return out
}

// queueIsSlotWaitOnly reports whether the residual is slot wait alone: only when one request
// at a time was in flight, or the server had one slot. Above that the runner's batch sharing
// lands in the same residual.
func queueIsSlotWaitOnly(r *results.Run, st *results.StageResult) bool {
	if np, err := strconv.Atoi(r.Labels[DefaultBy]); err == nil && np == 1 {
		return true
	}
	return st.Rate == 0 && st.Concurrency == 1
}

// timeSplit splits a stage's mean E2E with the server's timings, or client-side with TTFT.
func timeSplit(r *results.Run, st *results.StageResult) *TimeSplit {
	if d := st.Decomposition; d != nil && d.Requests > 0 {
		s := &TimeSplit{ServerTimings: true, E2E: d.E2E, Load: d.Load, Prefill: d.PromptEval, Decode: d.Eval, Client: d.ClientOverhead}
		if r.Baseline != nil {
			s.HasQueue, s.QueueWait, s.Overhead = true, d.QueueWait, d.Overhead
		} else {
			s.Overhead = d.Residual // uncalibrated: all of the residual
		}
		return s
	}
	e2e, ok1 := st.LatencyMs[results.MetricE2E]
	ttft, ok2 := st.LatencyMs[results.MetricTTFT]
	if ok1 && ok2 && e2e.N > 0 && ttft.N > 0 {
		return &TimeSplit{E2E: e2e.Mean, Prefill: ttft.Mean, Decode: math.Max(0, e2e.Mean-ttft.Mean)}
	}
	return nil
}

// count adds up the requests of every stage.
func (a *Analysis) count() {
	for _, r := range a.Runs {
		for _, st := range r.Stages {
			a.Totals.Requests += st.Requests.Total
			a.Totals.Failed += st.Failed
			for k, v := range st.Requests.Errors {
				if a.Totals.Errors == nil {
					a.Totals.Errors = map[string]int{}
				}
				a.Totals.Errors[k] += v
			}
		}
	}
}

// findBest finds the stage with the most output tokens per second.
func (a *Analysis) findBest() {
	var best *Stage
	for i, r := range a.Runs {
		for j, st := range r.Stages {
			if best == nil || st.Throughput.OutputTokensPerS > best.Throughput.OutputTokensPerS {
				best = st
				a.BestStage = &StageRef{Run: r.Name, Stage: st.Name, run: i, stage: j}
			}
		}
	}
}

// stageKnee says where throughput stops growing across a run's closed-loop stages of rising
// concurrency: more concurrency past it only queues. Nil with fewer than three such stages,
// or when throughput grows all along.
func stageKnee(r *Run, gain float64) *Knee {
	var closed []*Stage
	for _, st := range r.Stages {
		if st.Rate == 0 && st.Requests.OK > 0 {
			closed = append(closed, st)
		}
	}
	if len(closed) < 3 {
		return nil
	}
	for i := 0; i+1 < len(closed); i++ {
		a, b := closed[i], closed[i+1]
		if b.Concurrency <= a.Concurrency || a.Throughput.OutputTokensPerS <= 0 {
			return nil
		}
		if g := b.Throughput.OutputTokensPerS/a.Throughput.OutputTokensPerS - 1; g < gain {
			return &Knee{Run: r.Name, After: a.Name, Next: b.Name, Gain: g,
				Text: fmt.Sprintf("Throughput stops growing after %s: %s adds %s; more concurrency only waits in the queue.", a.Name, b.Name, prose.SignedPct(g))}
		}
	}
	return nil
}

func orDefaultGain(g float64) float64 {
	if g <= 0 {
		return DefaultKneeGain
	}
	return g
}
