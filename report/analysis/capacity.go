package analysis

import (
	"fmt"
	"strings"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/internal/prose"
)

// capacityLevel is the stage a capacity step measured.
func capacityLevel(f *results.File, users int) *results.StageResult {
	if f.Capacity == nil {
		return nil
	}
	for _, s := range f.Capacity.Steps {
		if s.Users == users && s.Run >= 0 && s.Run < len(f.Runs) && len(f.Runs[s.Run].Stages) > 0 {
			return f.Runs[s.Run].Stages[0]
		}
	}
	return nil
}

// queueGauges are the gauges servers keep of requests waiting for a slot.
var queueGauges = []string{"llamacpp:requests_deferred", "vllm:num_requests_waiting"}

// CapacityAdvice says what would raise a capacity, when the runs show it: requests queueing for
// a slot at the first level that missed (the server could take more at once), GPU memory left
// for more slots, or a decode rate that batching already splits.
func CapacityAdvice(f *results.File) []string {
	c := f.Capacity
	if c == nil || c.FirstFailing == 0 {
		return nil
	}
	st := capacityLevel(f, c.FirstFailing)
	if st == nil {
		return nil
	}
	var out []string
	queued := ""
	if d := st.Decomposition; d != nil && d.QueueShare >= 0.3 {
		queued = fmt.Sprintf("requests waited for a free slot for %s of their time", prose.Pct(d.QueueShare))
	}
	for _, name := range queueGauges {
		if g, ok := st.ServerGauges[name]; ok && g.Max >= 1 {
			queued = fmt.Sprintf("the server's queue (%s) held up to %s requests", name, prose.Num(g.Max))
		}
	}
	if queued != "" {
		out = append(out, fmt.Sprintf("At %d users %s: the server runs fewer requests at once than it is sent. More parallel slots (OLLAMA_NUM_PARALLEL for Ollama, -np for llama-server) would serve more users, if the hardware can run them: 'llmload sweep' measures what each setting buys.", c.FirstFailing, queued))
	}
	if g := st.GPU; g != nil && g.MemoryTotalMiB != nil && g.MemoryUsedPeakMiB != nil {
		if free := *g.MemoryTotalMiB - *g.MemoryUsedPeakMiB; free > 1024 {
			out = append(out, fmt.Sprintf("The GPU had %s free at %d users: room for more slots' KV cache.", prose.MiB(free), c.FirstFailing))
		}
	}
	for _, m := range c.Limiting {
		if m == "decode_tps" && queued == "" {
			out = append(out, fmt.Sprintf("At %d users each request decodes too slowly while they share the batch: more users need a faster GPU or a smaller model, not more slots.", c.FirstFailing))
		}
	}
	return out
}

// CapacityAnswer is the answer in one sentence: "This Ollama 0.34.4 (llama3.2:1b) serves 6
// users at once within ttft.p95 ≤ 2s and decode_tps ≥ 10/s; at 8 users ttft.p95 3.10 s, 55%
// over 2s."
func CapacityAnswer(f *results.File) string {
	c := f.Capacity
	if c == nil {
		return ""
	}
	what := "This server"
	if len(f.Runs) > 0 {
		t := f.Runs[0].Target
		switch {
		case t.Simulated:
			what = "The simulated server"
		case t.Server == "ollama":
			what = "This Ollama " + t.ServerVersion
		case t.Server == "llama-server":
			what = "This llama-server " + t.ServerVersion
		}
		if f.Runs[0].Plan != nil {
			if models := f.Runs[0].Plan.Models(); len(models) > 0 && models[0] != "" {
				what += " (" + strings.Join(models, ", ") + ")"
			}
		}
	}
	within := c.SLO
	if slo, err := ParseSLO(c.SLO); err == nil {
		var bs []string
		for _, b := range slo.Bounds {
			bs = append(bs, b.String())
		}
		within = prose.JoinAnd(bs)
	}
	users := func(n int) string {
		if n == 1 {
			return "1 user"
		}
		return fmt.Sprintf("%d users", n)
	}
	var s string
	switch {
	case len(c.Noise) > 0:
		s = fmt.Sprintf("No answer: this machine was too noisy to tell (%s)", strings.TrimPrefix(c.Noise[0], "noisy: "))
		if c.MaxConcurrency > 0 {
			s += fmt.Sprintf("; before it stopped, %s served %s within %s", strings.ToLower(what[:1])+what[1:], users(c.MaxConcurrency), within)
		}
		return s + "."
	case c.MaxConcurrency == 0:
		s = fmt.Sprintf("%s does not serve even one user within %s", what, within)
	case c.AtLeast:
		s = fmt.Sprintf("%s serves at least %s at once within %s (the most tried)", what, users(c.MaxConcurrency), within)
	case c.FirstFailing > c.MaxConcurrency+1:
		s = fmt.Sprintf("%s serves %s at once (fewer than %d) within %s", what, users(c.MaxConcurrency), c.FirstFailing, within)
	default:
		s = fmt.Sprintf("%s serves %s at once within %s", what, users(c.MaxConcurrency), within)
	}
	if c.FirstFailing > 0 && len(c.Misses) > 0 {
		s += fmt.Sprintf("; at %s %s", users(c.FirstFailing), strings.Join(c.Misses, ", "))
	}
	s += "."
	if n := len(c.NoisyLevels); n > 0 {
		s += fmt.Sprintf(" Measured on a machine that was not quiet (%s): treat it as a rough answer.", c.NoisyLevels[0])
	}
	return s
}
