package analysis

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/prose"
)

// entry is one run as a report shows it: the run, where it came from and a name that is
// unique within the report.
type entry struct {
	run    *results.Run
	source string   // the file it came from
	name   string   // display name
	merged []string // with --merge: the sources folded into this run
	gpu    gpuData
}

// gpuData is what a results file holds about the GPU of one run; every part may be absent.
type gpuData struct {
	info   *results.GPUInfo
	stages []*results.GPUStageSummary // parallel to run.Stages; nil where not measured
}

// measured reports whether a stage summary holds any figure.
func measured(s *results.GPUStageSummary) bool {
	return s != nil && (s.MemoryUsedPeakMiB != nil || s.UtilizationMeanPct != nil || s.PowerMeanW != nil)
}

// stage returns the GPU summary of stage i, nil when not measured.
func (g gpuData) stage(i int) *results.GPUStageSummary {
	if i < len(g.stages) && measured(g.stages[i]) {
		return g.stages[i]
	}
	return nil
}

// gpuOf gathers a run's GPU data: what was sampled and the stage summaries.
func gpuOf(r *results.Run) gpuData {
	g := gpuData{info: r.GPU}
	for _, st := range r.Stages {
		var s *results.GPUStageSummary
		if st != nil {
			s = st.GPU
		}
		g.stages = append(g.stages, s)
	}
	return g
}

// sourceName is the name a report uses for file i.
func sourceName(sources []string, i int) string {
	if i < len(sources) && sources[i] != "" {
		return sources[i]
	}
	return fmt.Sprintf("file %d", i+1)
}

// entries flattens files into runs with unique names, in file order.
func entries(files []*results.File, sources []string) []*entry {
	var out []*entry
	for i, f := range files {
		if f == nil {
			continue
		}
		for _, r := range f.Runs {
			if r == nil {
				continue
			}
			out = append(out, &entry{run: r, source: sourceName(sources, i), gpu: gpuOf(r)})
		}
	}
	nameEntries(out)
	return out
}

// nameEntries names runs by their labels ("num_parallel=4"); runs without labels, or with
// the same labels, are told apart by their file and then by position.
func nameEntries(es []*entry) {
	base := make([]string, len(es))
	count := map[string]int{}
	for i, e := range es {
		base[i] = prose.Labels(e.run.Labels)
		if base[i] == "" {
			base[i] = e.source
		}
		count[base[i]]++
	}
	withSource := make([]string, len(es))
	count2 := map[string]int{}
	for i, e := range es {
		withSource[i] = base[i]
		if count[base[i]] > 1 && base[i] != e.source {
			withSource[i] = base[i] + " (" + e.source + ")"
		}
		count2[withSource[i]]++
	}
	seen := map[string]int{}
	for i, e := range es {
		e.name = withSource[i]
		if count2[withSource[i]] > 1 {
			seen[withSource[i]]++
			e.name = fmt.Sprintf("%s #%d", withSource[i], seen[withSource[i]])
		}
	}
}

// maxNameLen caps a run's display name: it appears in every table and note.
const maxNameLen = 60

// nameByLabel names runs "by=value" when every run has the label and no two share a value:
// the compared label says which run is which, and the other labels stay in the runs table.
func nameByLabel(es []*entry, by string) {
	seen := map[string]bool{}
	for _, e := range es {
		v, ok := e.run.Labels[by]
		if !ok || seen[v] {
			return
		}
		seen[v] = true
	}
	for _, e := range es {
		e.name = by + "=" + e.run.Labels[by]
	}
}

// capName shortens over-long display names; their full labels stay in the runs table.
func capNames(es []*entry) {
	for _, e := range es {
		if r := []rune(e.name); len(r) > maxNameLen {
			e.name = string(r[:maxNameLen-1]) + "…"
		}
	}
}

// settingOrder sorts label values numerically when they all are numbers, else as text.
func settingOrder(values []string) {
	numeric := true
	for _, v := range values {
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			numeric = false
			break
		}
	}
	sort.SliceStable(values, func(i, j int) bool {
		if numeric {
			a, _ := strconv.ParseFloat(values[i], 64)
			b, _ := strconv.ParseFloat(values[j], 64)
			return a < b
		}
		return values[i] < values[j]
	})
}

// Load is a load level, which identifies a level across runs: closed-loop concurrency or
// open-loop rate.
type Load struct {
	Concurrency int
	Rate        float64
}

func keyOf(st *results.StageResult) Load {
	if st.Rate > 0 {
		return Load{Rate: st.Rate}
	}
	return Load{Concurrency: st.Concurrency}
}

// Before orders closed-loop levels by concurrency, then open-loop levels by rate.
func (k Load) Before(o Load) bool {
	if (k.Rate > 0) != (o.Rate > 0) {
		return k.Rate == 0
	}
	if k.Rate > 0 {
		return k.Rate < o.Rate
	}
	return k.Concurrency < o.Concurrency
}

// String is "c=8" or "rate=2/s".
func (k Load) String() string {
	if k.Rate > 0 {
		return "rate=" + results.TrimFloat(k.Rate, -1) + "/s"
	}
	return "c=" + strconv.Itoa(k.Concurrency)
}

// defaultBy is what runs are compared by when no label is named: the settings a sweep varied
// among them, as their servers' settings name them (several joined by commas, compared as
// every combination); else DefaultBy.
func defaultBy(es []*entry) string {
	var labels []string
	for _, e := range es {
		if e.run.Server == nil {
			continue
		}
		for _, s := range e.run.Server.Settings {
			if !slices.Contains(labels, s.Label) {
				labels = append(labels, s.Label)
			}
		}
	}
	var varying []string
	for _, k := range labels {
		seen := map[string]bool{}
		for _, e := range es {
			if v, ok := e.run.Labels[k]; ok {
				seen[v] = true
			}
		}
		if len(seen) > 1 {
			varying = append(varying, k)
		}
	}
	if len(varying) == 0 {
		return DefaultBy
	}
	return strings.Join(varying, ",")
}

// tupleOrder sorts values of several settings ("a=1 b=2") setting by setting, each numerically
// when it can be read as a number.
func tupleOrder(values []string) {
	less := func(a, b string) bool {
		pa, pb := strings.Fields(a), strings.Fields(b)
		for i := range min(len(pa), len(pb)) {
			_, va, _ := strings.Cut(pa[i], "=")
			_, vb, _ := strings.Cut(pb[i], "=")
			if va == vb {
				continue
			}
			fa, ea := strconv.ParseFloat(va, 64)
			fb, eb := strconv.ParseFloat(vb, 64)
			if ea == nil && eb == nil {
				return fa < fb
			}
			return va < vb
		}
		return len(pa) < len(pb)
	}
	sort.SliceStable(values, func(i, j int) bool { return less(values[i], values[j]) })
}
