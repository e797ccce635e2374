package serve

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/bench/sim"
)

// LabelNumParallel is the label of the parallel slots, whichever server: OLLAMA_NUM_PARALLEL,
// llama-server's -np.
const LabelNumParallel = "num_parallel"

// Axis is one server setting a sweep varies, with its values in the order given: an
// environment variable of `ollama serve` (OLLAMA_MAX_LOADED_MODELS) or a flag of llama-server
// (-np, --flash-attn), and the label its runs carry (max_loaded_models, num_parallel).
type Axis struct {
	Name   string
	Label  string
	Values []string
}

// Point is one combination of a sweep's settings: a value of each axis.
type Point []results.ServerSetting

// Product is every combination of the axes' values, the first axis varying slowest (as
// llama-bench does): 1,2 × a,b gives 1a, 1b, 2a, 2b.
func Product(axes []Axis) []Point {
	points := []Point{nil}
	for _, a := range axes {
		var next []Point
		for _, p := range points {
			for _, v := range a.Values {
				q := append(Point(nil), p...)
				next = append(next, append(q, results.ServerSetting{Name: a.Name, Label: a.Label, Value: v}))
			}
		}
		points = next
	}
	if len(points) == 1 && len(points[0]) == 0 {
		return nil
	}
	return points
}

// NumParallelAxis is the axis of the parallel slots for a kind of server (OLLAMA_NUM_PARALLEL,
// or llama-server's -np).
func NumParallelAxis(kind Kind, values ...int) Axis {
	a := Axis{Name: "OLLAMA_NUM_PARALLEL", Label: LabelNumParallel}
	if kind == KindLlamaServer {
		a.Name = "-np"
	}
	for _, v := range values {
		a.Values = append(a.Values, strconv.Itoa(v))
	}
	return a
}

// Labels are the labels a run of this point carries.
func (p Point) Labels() map[string]string {
	out := make(map[string]string, len(p))
	for _, s := range p {
		out[s.Label] = s.Value
	}
	return out
}

// NumParallel is the parallel slots the point asks for; 0 when it leaves them to the server.
func (p Point) NumParallel() int {
	for _, s := range p {
		if s.Label == LabelNumParallel {
			n, _ := strconv.Atoi(s.Value)
			return n
		}
	}
	return 0
}

// String is the point as a run is named: "max_loaded_models=1, num_parallel=2".
func (p Point) String() string { return results.LabelText(p.Labels()) }

// unsafeName are the characters a file name keeps out.
var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// FileName names the point's files: "num_parallel-4", "max_loaded_models-1.num_parallel-2",
// with ".round-2" after it in a sweep of several rounds (round 0: none).
func (p Point) FileName(round int) string {
	var parts []string
	for _, s := range p {
		parts = append(parts, s.Label+"-"+unsafeName.ReplaceAllString(s.Value, "_"))
	}
	if round > 0 {
		parts = append(parts, "round-"+strconv.Itoa(round))
	}
	return strings.Join(parts, ".")
}

// Settings the sweep cannot vary: llmload sets them itself, or they say where the server's
// files are rather than how it serves.
var (
	ollamaFixed      = []string{"OLLAMA_HOST", "OLLAMA_MODELS", "OLLAMA_DEBUG"}
	llamaServerFixed = []string{"-m", "--model", "--host", "--port", "--metrics", "-c", "--ctx-size"}
)

// llamaServerLabels name llama-server's flags by their long names, so that -fa and
// --flash-attn label runs alike.
var llamaServerLabels = map[string]string{
	"-np": LabelNumParallel, "--parallel": LabelNumParallel,
	"-fa": "flash_attn", "-ctk": "cache_type_k", "-ctv": "cache_type_v", "-b": "batch_size",
	"-ub": "ubatch_size", "-ngl": "n_gpu_layers", "--gpu-layers": "n_gpu_layers", "-t": "threads",
	"-tb": "threads_batch", "-ctxcp": "ctx_checkpoints", "-kvu": "kv_unified", "-cb": "cont_batching",
	"-sm": "split_mode", "-ts": "tensor_split", "-mg": "main_gpu", "-dt": "defrag_thold",
}

// ParseAxis reads one setting to vary, NAME=V1,V2,… as llama-bench takes its lists: for
// `ollama serve` (and the simulator) an OLLAMA_* variable, for llama-server one of its flags
// (-np=1,2 or --flash-attn=on,off). It refuses what llmload sets itself, what the simulator
// does not model, and values the server would refuse.
func ParseAxis(kind Kind, simulated bool, spec string) (Axis, error) {
	name, list, ok := strings.Cut(spec, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.TrimSpace(list) == "" {
		return Axis{}, fmt.Errorf("%q: want NAME=VALUE,VALUE…", spec)
	}
	a := Axis{Name: name}
	for _, v := range strings.Split(list, ",") {
		v = strings.TrimSpace(v)
		if v == "" {
			return Axis{}, fmt.Errorf("%s: an empty value in %q", name, list)
		}
		for _, have := range a.Values {
			if have == v {
				return Axis{}, fmt.Errorf("%s: %s given twice", name, v)
			}
		}
		a.Values = append(a.Values, v)
	}
	switch {
	case kind == KindLlamaServer && !simulated:
		if !strings.HasPrefix(name, "-") {
			return Axis{}, fmt.Errorf("%s: llama-server takes its settings as flags (-np, -fa …), not variables", name)
		}
		for _, f := range llamaServerFixed {
			if name == f || strings.HasPrefix(name, f+"=") {
				return Axis{}, fmt.Errorf("%s: llmload sets it itself (the context is the context per slot × the slots)", name)
			}
		}
		a.Label = llamaServerLabels[name]
		if a.Label == "" {
			a.Label = strings.ReplaceAll(strings.TrimLeft(name, "-"), "-", "_")
		}
	default:
		if !strings.HasPrefix(name, "OLLAMA_") || strings.ToUpper(name) != name {
			return Axis{}, fmt.Errorf("%s: Ollama takes OLLAMA_* variables (OLLAMA_MAX_LOADED_MODELS …)", name)
		}
		for _, f := range ollamaFixed {
			if name == f {
				return Axis{}, fmt.Errorf("%s: llmload sets it itself", name)
			}
		}
		if simulated && !sim.ModelsSetting(name) {
			return Axis{}, fmt.Errorf("%s: the simulator does not model it (it models OLLAMA_NUM_PARALLEL, OLLAMA_MAX_LOADED_MODELS, OLLAMA_MAX_QUEUE, OLLAMA_CONTEXT_LENGTH, OLLAMA_KV_CACHE_TYPE, OLLAMA_FLASH_ATTENTION and OLLAMA_KEEP_ALIVE)", name)
		}
		a.Label = strings.ToLower(strings.TrimPrefix(name, "OLLAMA_"))
		// The simulator reads these variables as Ollama does: what it refuses, Ollama would.
		if sim.ModelsSetting(name) {
			for _, v := range a.Values {
				if _, err := sim.DefaultConfig().WithEnv(func(k string) string { return map[string]string{name: v}[k] }); err != nil {
					return Axis{}, err
				}
			}
		}
	}
	if a.Label == LabelNumParallel {
		for _, v := range a.Values {
			if n, err := strconv.Atoi(v); err != nil || n < 1 {
				return Axis{}, fmt.Errorf("%s: %q: the parallel slots are a whole number, at least 1", name, v)
			}
		}
	}
	return a, nil
}
