package results

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Schema is the results file's schema name. Its core field names and units are fixed: users
// script against them. Fields may be added; none may change meaning.
const Schema = "llmload/v1"

// File is one results file: one run, or one run per setting of a sweep.
type File struct {
	Schema string `json:"schema"`
	Tool   Tool   `json:"tool"`
	Runs   []*Run `json:"runs"`
	// Capacity is the answer of `llmload capacity`: how many users the server serves within
	// an objective, with the runs behind it in Runs.
	Capacity *Capacity `json:"capacity,omitempty"`
}

// Tool identifies the llmload build that wrote a file.
type Tool struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	GoVersion string `json:"go_version,omitempty"`
}

// Host describes the machine the client ran on.
type Host struct {
	Hostname string `json:"hostname,omitempty"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	CPUs     int    `json:"cpus"`
}

// Target is the server a run measured. URL never carries credentials.
type Target struct {
	URL           string `json:"url"`
	API           string `json:"api"`
	ServerVersion string `json:"server_version,omitempty"`
	// Server is the kind of server discovery found: "ollama", "llama-server", "llmload-sim";
	// empty for other OpenAI-compatible servers. Engine is what ran the model when known
	// ("llama-server" for Ollama 0.30 and later): timings differ between engines.
	Server    string        `json:"server,omitempty"`
	Engine    string        `json:"engine,omitempty"`
	Simulated bool          `json:"simulated"`
	Models    []LoadedModel `json:"models,omitempty"` // from /api/ps after warm-up
	// Sender is the HTTP stack that sent the requests and stamped their chunks: "own-http1"
	// (llmload's own HTTP/1.1 path; on Linux, arrivals from the kernel's receive time) or
	// "net/http"; SenderReason says why it was chosen.
	Sender       string `json:"sender,omitempty"`
	SenderReason string `json:"sender_reason,omitempty"`
}

// LoadedModel is one entry of Ollama's /api/ps.
type LoadedModel struct {
	Name          string `json:"name"`
	SizeBytes     int64  `json:"size_bytes,omitempty"`
	SizeVRAMBytes int64  `json:"size_vram_bytes,omitempty"`
	ContextLength int    `json:"context_length,omitempty"`
}

// Run is one load test against one server setting.
type Run struct {
	Labels map[string]string `json:"labels,omitempty"`
	// Repeat numbers the runs of `run --repeat N` (1…N); 0 for a run that was not repeated.
	Repeat      int       `json:"repeat,omitempty"`
	Target      Target    `json:"target"`
	Host        Host      `json:"host"`
	Started     time.Time `json:"started"`
	Ended       time.Time `json:"ended"`
	Interrupted bool      `json:"interrupted,omitempty"`
	Plan        *Plan     `json:"plan"`
	GPU         *GPUInfo  `json:"gpu,omitempty"`
	// GPUSeries is every GPU sample of the run, on the same clock as the stage timelines.
	GPUSeries *GPUSeries `json:"gpu_series,omitempty"`
	// ServerGauges are the server's own gauges sampled during the run (llama-server's and
	// vLLM's /metrics), on the same clock; Available false says why there are none.
	ServerGauges *ServerGauges `json:"server_gauges,omitempty"`
	Warmup       *Warmup       `json:"warmup,omitempty"`
	// Baseline is the residual (total − load − prompt_eval − eval) of a request that did not
	// wait: the fixed overhead subtracted to get queue wait. Absent for non-Ollama APIs.
	Baseline *Baseline      `json:"queue_wait_baseline,omitempty"`
	Stages   []*StageResult `json:"stages"`
	Notes    []string       `json:"notes,omitempty"`
	// Noise lists what makes this run's figures doubtful (a busy machine, outliers where
	// nothing queues, a control that drifted), each a sentence starting "noisy: ". The gate
	// refuses a noisy run as it refuses an overloaded client.
	Noise []string `json:"noise,omitempty"`
	// Control is the run's control figure: a lone request's decode rate, which a sweep's
	// settings do not change (from the plan's stage at concurrency 1, or a probe).
	Control *Control `json:"control,omitempty"`
	// Server describes the server llmload started for this run (sweep), absent otherwise.
	Server *ServerInfo `json:"server,omitempty"`
}

// ServerInfo is what llmload knows about a server it started itself.
type ServerInfo struct {
	Managed   bool   `json:"managed"`
	Simulated bool   `json:"simulated"`
	PID       int    `json:"pid,omitempty"`
	LogFile   string `json:"log_file,omitempty"`
	// Settings are the server settings the sweep started it with, each as the server takes it
	// and as the run's label names it.
	Settings []ServerSetting `json:"settings,omitempty"`
	// NumParallel is the setting asked for (0: the server's default); NumParallelObserved what
	// the runner's log line said; Verified that the two agree.
	NumParallel         int  `json:"num_parallel"`
	NumParallelObserved int  `json:"num_parallel_observed,omitempty"`
	Verified            bool `json:"num_parallel_verified"`
	// SlotContext is the context each slot got (the runner's whole context ÷ its slots), when
	// the server said.
	SlotContext int    `json:"slot_context,omitempty"`
	Note        string `json:"note,omitempty"`
	// LoadMs is the preload time per model; MemoryAfterLoadMiB the GPU memory right after.
	LoadMs             map[string]float64 `json:"load_ms,omitempty"`
	MemoryAfterLoadMiB *float64           `json:"memory_after_load_mib,omitempty"`
}

// ServerSetting is one setting a sweep started a server with: an environment variable of
// `ollama serve` (OLLAMA_MAX_LOADED_MODELS) or a flag of llama-server (-np), its value, and
// the label the run carries it under (max_loaded_models, num_parallel).
type ServerSetting struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Value string `json:"value"`
}

// Warmup summarises the warm-up requests, which are not part of any stage's metrics.
type Warmup struct {
	Requests int            `json:"requests"`
	OK       int            `json:"ok"`
	Errors   map[string]int `json:"errors,omitempty"`
	// LoadMs is the largest load_duration seen: roughly the model load time when warm-up
	// found the model cold.
	LoadMs float64 `json:"load_ms,omitempty"`
	WallS  float64 `json:"wall_s"`
}

// Baseline is how queue wait was calibrated.
type Baseline struct {
	ResidualMs float64 `json:"residual_ms"`
	Source     string  `json:"source"` // "stage <name>" (its median) or "warmup" (its minimum)
	Samples    int     `json:"samples"`
}

// StageResult is one stage's measurements. Durations are milliseconds, rates per second.
type StageResult struct {
	Name           string  `json:"name"`
	Concurrency    int     `json:"concurrency"`
	Rate           float64 `json:"rate"`
	Arrival        string  `json:"arrival,omitempty"`
	MaxConcurrency int     `json:"max_concurrency,omitempty"`
	StartS         float64 `json:"start_s"` // since the run's start
	WallS          float64 `json:"wall_s"`

	Requests   Counts     `json:"requests"`
	Throughput Throughput `json:"throughput"`
	// OutputTokens is the sum over successful requests. TokenSource says where the counts came
	// from: "server" (eval_count / usage), "chunks" (content chunks counted), or "mixed".
	OutputTokens int64  `json:"output_tokens"`
	TokenSource  string `json:"token_source,omitempty"`
	PromptTokens int64  `json:"prompt_tokens,omitempty"`
	// PromptCached is how many prompt tokens the server's prompt cache served (llama-server,
	// Ollama 0.30+): identical prompts measure cache hits, not prompt processing.
	PromptCached int64 `json:"prompt_cached_tokens,omitempty"`

	LatencyMs map[string]Summary `json:"latency_ms"`
	// Decomposition splits the mean end-to-end latency of successful Ollama requests.
	Decomposition *Decomposition `json:"decomposition,omitempty"`
	// ModelLoads counts the requests whose server timings show a model load (a load_duration
	// of at least ModelLoadMs): inside a measured stage, a load is reload thrash.
	ModelLoads int `json:"model_loads,omitempty"`
	// EffectiveParallelism is Σ service time / wall time: requests in service on average.
	EffectiveParallelism float64 `json:"effective_parallelism"`
	// Speedup is this stage's completed requests/s over that of the first stage of its kind,
	// closed or open loop (see SpeedupReference); none for that first stage itself.
	Speedup float64 `json:"speedup_vs_first,omitempty"`

	GPU    *GPUStageSummary `json:"gpu,omitempty"`
	Client ClientCheck      `json:"client"`
	// Machine is how busy the machine was with other work during the stage (Linux).
	Machine    *MachineLoad      `json:"machine,omitempty"`
	Histograms map[string]string `json:"histograms"`
	Timeline   []TimelinePoint   `json:"timeline,omitempty"`
	ByModel    map[string]*Model `json:"by_model,omitempty"`
	// Classes are the stage's figures per class (a mix entry's name, its model when unnamed),
	// present when the mix has several classes: does one kind of traffic slow another?
	Classes map[string]*Class `json:"classes,omitempty"`
	// Goodput counts the requests that met every bound of a per-request objective, when one
	// was given (run --goodput).
	Goodput *Goodput `json:"goodput,omitempty"`
	// Saturation is what an open loop capped by max_concurrency saw of the server's
	// saturation: the arrivals that found every place taken. Their wait is latency_ms.cap_wait.
	Saturation *Saturation `json:"saturation,omitempty"`
	// ServerGauges summarize the server's own gauges over the stage, by the server's names
	// (llamacpp:requests_deferred is llama-server's queue, vllm:num_requests_waiting vLLM's).
	ServerGauges map[string]GaugeStats `json:"server_gauges,omitempty"`
}

// ModelLoadMs is the load_duration from which a request counts as having loaded (or waited
// for) its model: a model already in memory reports a few milliseconds at most, the smallest
// real load takes hundreds.
const ModelLoadMs = 50

// Counts are requests by outcome class.
type Counts struct {
	Total  int            `json:"total"`
	OK     int            `json:"ok"`
	Errors map[string]int `json:"errors,omitempty"`
	// ErrorSamples keeps the first error text seen per class.
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
}

// Failed counts failed requests: the classes' sum, or total − ok when that is larger (a file
// written by hand may hold only the totals).
func (c Counts) Failed() int {
	n := 0
	for _, v := range c.Errors {
		n += v
	}
	return max(n, c.Total-c.OK)
}

// Throughput of a stage over its wall time.
type Throughput struct {
	RequestsPerS     float64 `json:"requests_per_s"`
	OutputTokensPerS float64 `json:"output_tokens_per_s"`
	// DecodeTokensPerS is the mean over streamed requests of output tokens / (last byte −
	// first token).
	DecodeTokensPerS float64 `json:"decode_tokens_per_s,omitempty"`
}

// Summary is a latency distribution in milliseconds.
type Summary struct {
	N    int64   `json:"n"`
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// Decomposition is where the mean E2E of successful requests with server timings went, in
// milliseconds.
// QueueWait is the residual minus the calibrated baseline: at NUM_PARALLEL = 1 it is slot wait;
// above 1 it also holds batch sharing (the runner charges each request part of each shared
// step), so it is reported as "slot wait + batch sharing".
type Decomposition struct {
	Requests       int     `json:"requests"`
	E2E            float64 `json:"e2e"`
	Load           float64 `json:"load"`
	PromptEval     float64 `json:"prompt_eval"`
	Eval           float64 `json:"eval"`
	Residual       float64 `json:"residual"`
	Overhead       float64 `json:"overhead"`   // the baseline residual
	QueueWait      float64 `json:"queue_wait"` // residual − overhead, ≥ 0
	ClientOverhead float64 `json:"client_overhead"`
	// QueueShare is QueueWait / E2E.
	QueueShare float64 `json:"queue_share"`
	// Source says whose timings these are: "ollama" (its final chunk's durations),
	// "llama-server" (its timings object: no load, and the total is llmload's service time, so
	// there is no client-side share), or "mixed". Absent in files of older llmload: Ollama's.
	Source string `json:"source,omitempty"`
}

// ClientCheck is the client's self-check: could it have distorted the latencies?
type ClientCheck struct {
	SendLagP99Ms float64 `json:"send_lag_p99_ms"`
	GCPauseMs    float64 `json:"gc_pause_ms"`
	CPUPct       float64 `json:"cpu_pct"` // of one core, for the whole process
	Overloaded   bool    `json:"overloaded"`
	Reason       string  `json:"reason,omitempty"`
	// NewConnections counts requests carried by a connection opened for them; Reconnects the
	// requests sent a second time because the kept-alive connection they went out on had been
	// closed by the server before any reply (they never reached it: not errors).
	NewConnections int `json:"new_connections"`
	Reconnects     int `json:"reconnects,omitempty"`
}

// TimelinePoint is one second of the run's clock.
type TimelinePoint struct {
	T            float64 `json:"t_s"`       // seconds since the run's start
	InFlight     float64 `json:"in_flight"` // mean requests in flight over the second
	Completed    int     `json:"completed"`
	Errors       int     `json:"errors"`
	OutputTokens int64   `json:"output_tokens"`
}

// Model is one model's share of a stage, present when the mix has several models.
type Model struct {
	Requests         Counts             `json:"requests"`
	OutputTokens     int64              `json:"output_tokens"`
	OutputTokensPerS float64            `json:"output_tokens_per_s"`
	LatencyMs        map[string]Summary `json:"latency_ms"`
}

// Write stores the file atomically: a temp file beside the target, then a rename, so a reader
// never sees half a file and an interrupted write never destroys an older one.
func (f *File) Write(path string) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	b = append(b, '\n')
	return WriteAtomic(path, b)
}

// WriteAtomic writes b to path through a temp file beside it and a rename, so that a reader
// never sees half a file. A path that exists and is not a regular file (/dev/null, a pipe,
// /dev/stdout) is written in place: renaming over it would replace the device with a file.
func WriteAtomic(path string, b []byte) error {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("write results: %w", err)
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return fmt.Errorf("write results: %w", err)
		}
		return f.Close()
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	// CreateTemp makes the file private; results are ordinary output, readable like any.
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write results: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write results: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write results: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// InputError is input that cannot be read or judged: a results file that is missing, not JSON,
// truncated or of another schema, files that do not merge, an unknown metric or format. A
// command maps it to exit code 2 (bad input); other errors are I/O failures.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// ReadFiles reads results files for a report or a gate. An error names the file and says what
// is wrong with it (missing, not JSON, truncated, another schema, not a results file, no
// runs); all are InputErrors.
func ReadFiles(paths []string) ([]*File, error) {
	if len(paths) == 0 {
		return nil, &InputError{Err: errors.New("no results files given")}
	}
	files := make([]*File, 0, len(paths))
	for _, p := range paths {
		f, err := ReadFile(p)
		if err != nil {
			// ReadFile names the file for content errors; a missing file gets it here.
			if !strings.Contains(err.Error(), p) {
				err = fmt.Errorf("%s: %w", p, err)
			}
			return nil, &InputError{Err: err}
		}
		if len(f.Runs) == 0 {
			return nil, &InputError{Err: fmt.Errorf("%s: results file holds no runs", p)}
		}
		files = append(files, f)
	}
	return files, nil
}

// ReadFile reads and checks a results file. Errors name the file and say what is wrong with
// it: not JSON, truncated, another schema, or not a results file at all.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	f, err := Decode(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Decode reads a results document and checks its schema.
func Decode(r io.Reader) (*File, error) {
	dec := json.NewDecoder(r)
	var probe map[string]json.RawMessage
	if err := dec.Decode(&probe); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.Is(err, io.EOF):
			return nil, fmt.Errorf("empty file, not a results file")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, fmt.Errorf("truncated results file (JSON ends early)")
		case errors.As(err, &se):
			return nil, fmt.Errorf("not valid JSON at byte %d: %v", se.Offset, err)
		default:
			return nil, fmt.Errorf("not a results file: %v", err)
		}
	}
	rawSchema, ok := probe["schema"]
	if !ok {
		return nil, fmt.Errorf("not an llmload results file (no \"schema\" field)")
	}
	var schema string
	if err := json.Unmarshal(rawSchema, &schema); err != nil || schema != Schema {
		return nil, fmt.Errorf("results schema %s is not supported (this llmload reads %q)", string(rawSchema), Schema)
	}
	var f File
	all, _ := json.Marshal(probe)
	if err := json.Unmarshal(all, &f); err != nil {
		return nil, fmt.Errorf("results file does not match schema %s: %v", Schema, err)
	}
	if err := f.check(); err != nil {
		return nil, err
	}
	return &f, nil
}

// check refuses the nulls a reader would trip on: a run, a stage, a mix entry or a per-model
// entry that is null (optional objects — a stage's GPU summary, a run's plan — may be absent).
func (f *File) check() error {
	for i, r := range f.Runs {
		if r == nil {
			return fmt.Errorf("runs[%d] is null", i)
		}
		for j, st := range r.Stages {
			if st == nil {
				return fmt.Errorf("runs[%d].stages[%d] is null", i, j)
			}
			for name, m := range st.ByModel {
				if m == nil {
					return fmt.Errorf("runs[%d].stages[%d].by_model[%q] is null", i, j, name)
				}
			}
		}
		if r.Plan != nil {
			for j, t := range r.Plan.Mix {
				if t == nil {
					return fmt.Errorf("runs[%d].plan.mix[%d] is null", i, j)
				}
			}
		}
	}
	return nil
}

// ServerGauges is what a server said of its own state while it was measured.
type ServerGauges struct {
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"` // why there are none
	// Endpoint is where they were read (GET /metrics).
	Endpoint   string        `json:"endpoint,omitempty"`
	IntervalMs float64       `json:"interval_ms,omitempty"`
	Samples    []GaugeSample `json:"samples,omitempty"`
	// Truncated says sampling stopped at its bound before the run ended.
	Truncated bool `json:"truncated,omitempty"`
}

// GaugeSample is one reading of the server's gauges, by their own names.
type GaugeSample struct {
	T      float64            `json:"t_s"` // seconds since the run's start
	Values map[string]float64 `json:"values"`
}

// GaugeStats summarize one gauge over a stage: the mean and the largest of its readings.
type GaugeStats struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	Max  float64 `json:"max"`
}

// MachineLoad is how busy the machine was with work other than the measurement.
type MachineLoad struct {
	// OthersCPUPct is the share of all the machine's CPUs that processes other than llmload
	// and the server under test (with its children) used, in percent.
	OthersCPUPct float64 `json:"others_cpu_pct"`
	// OthersGPUUtilPct is the share of the GPU's time other processes' kernels ran (NVML),
	// when the driver says per process and the server's process is known.
	OthersGPUUtilPct *float64 `json:"others_gpu_util_pct,omitempty"`
}

// Class is one class's share of a stage: its requests, throughput and latencies, with the
// histograms so that classes merge across hosts as stages do.
type Class struct {
	Requests     Counts             `json:"requests"`
	Throughput   Throughput         `json:"throughput"`
	OutputTokens int64              `json:"output_tokens"`
	LatencyMs    map[string]Summary `json:"latency_ms"`
	Histograms   map[string]string  `json:"histograms"`
	Goodput      *Goodput           `json:"goodput,omitempty"`
	// ModelLoads counts the class's requests that waited for a model load.
	ModelLoads int `json:"model_loads,omitempty"`
}

// Saturation counts an open loop's arrivals that found no free place under its cap on
// requests in flight (max_concurrency): the server had not finished what it was sent. They
// are the server's saturation, not the client's lag: the client sent each one as soon as a
// place came free.
type Saturation struct {
	Arrivals int `json:"arrivals"` // arrivals due during the stage: those sent and those dropped
	Delayed  int `json:"delayed"`  // sent late, once a place came free
	Dropped  int `json:"dropped"`  // never sent: no place came free before the stage ended
}

// Goodput is how many requests met a per-request objective: succeeded, and within every bound
// of SLO. Failed requests count against it.
type Goodput struct {
	SLO      string  `json:"slo"` // "ttft<=500ms,tpot<=50ms"
	Good     int     `json:"good"`
	Total    int     `json:"total"`
	Share    float64 `json:"share"`      // Good / Total
	RatePerS float64 `json:"rate_per_s"` // Good / the stage's wall time
}

// ClassView is the stage as one of its classes saw it: the class's requests, throughput,
// latencies, histograms and goodput in place of the stage's, so that every metric of the
// catalogue reads a class as it reads a stage. ok is false when the stage has no such class
// (a one-class mix keeps none: the stage is the class).
func (st *StageResult) ClassView(name string) (view *StageResult, ok bool) {
	c := st.Classes[name]
	if c == nil {
		return nil, false
	}
	v := *st
	v.Requests, v.Throughput, v.OutputTokens = c.Requests, c.Throughput, c.OutputTokens
	v.LatencyMs, v.Histograms, v.Goodput = c.LatencyMs, c.Histograms, c.Goodput
	v.Decomposition, v.ByModel, v.Classes, v.TokenSource, v.PromptTokens = nil, nil, nil, "", 0
	return &v, true
}

// Capacity is how many users at once a server serves within an objective: the largest
// closed-loop concurrency whose stage met every bound, found by doubling, then bisecting.
type Capacity struct {
	// MaxConcurrency is the most users served within the objective; 0 when even one is not.
	MaxConcurrency int `json:"max_concurrency"`
	// AtLeast says the search stopped at its ceiling without a failure: the server may serve
	// more.
	AtLeast bool `json:"at_least,omitempty"`
	// SLO is the objective, in the metric names of the gate: "ttft.p95<=2s,decode_tps>=10".
	SLO string `json:"slo"`
	// FirstFailing is the fewest users found to miss the objective (0: none missed), Limiting
	// the metrics that missed there and Misses how.
	FirstFailing int      `json:"first_failing,omitempty"`
	Limiting     []string `json:"limiting_metrics,omitempty"`
	Misses       []string `json:"misses,omitempty"`
	// Steps are the load levels tried, in order; each is a run of the file.
	Steps []CapacityStep `json:"steps"`
	// Noise, when set, is why the search stopped without an answer: a run was noisy.
	Noise []string `json:"noise,omitempty"`
	// NoisyLevels are what made levels noisy when the search was told to go on regardless:
	// the answer stands on a machine that was not quiet.
	NoisyLevels []string `json:"noisy_levels,omitempty"`
	// Advice says what would raise the capacity, when the runs show it (all slots busy and
	// the queue growing; GPU memory left for more slots).
	Advice []string `json:"advice,omitempty"`
}

// CapacityStep is one load level of a capacity search.
type CapacityStep struct {
	Users  int      `json:"users"`
	Run    int      `json:"run"` // index into File.Runs
	Meets  bool     `json:"meets"`
	Misses []string `json:"misses,omitempty"`
}

// CheckWritable says whether a file can be written at path the way WriteAtomic writes it,
// before anything is measured: its folder is made when missing and must take a new file, and
// the path must not be a folder. A device or pipe that exists (/dev/null) must open for
// writing. Nothing is left behind but the folders made.
func CheckWritable(path string) error {
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("%s is a directory", path)
	case err == nil && !fi.Mode().IsRegular():
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		return f.Close()
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".check*")
	if err != nil {
		return err
	}
	tmp.Close()
	return os.Remove(tmp.Name())
}

// SameFile says whether two paths name the same regular file: the same file on disk when both
// exist, else the same path once made absolute. A device or pipe (/dev/null) is no file that
// one output could overwrite another with.
func SameFile(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	if (errA == nil && !fa.Mode().IsRegular()) || (errB == nil && !fb.Mode().IsRegular()) {
		return false
	}
	if errA == nil && errB == nil {
		return os.SameFile(fa, fb)
	}
	absA, errA := filepath.Abs(a)
	absB, errB := filepath.Abs(b)
	return errA == nil && errB == nil && absA == absB
}

// SpeedupReference is the index of the stage that stage i's speed-up is measured against: the
// first stage of the same kind, closed loop or open loop (open[j] says whether stage j is one).
// An open loop's throughput follows its schedule, a closed loop's what the server can do, so a
// speed-up of one over the other compares unlike things. It is i for the first of its kind.
func SpeedupReference(open []bool, i int) int {
	for j := 0; j < i; j++ {
		if open[j] == open[i] {
			return j
		}
	}
	return i
}

// OpenStages says which of the stages are open loops, for SpeedupReference.
func OpenStages(stages []*StageResult) []bool {
	out := make([]bool, len(stages))
	for i, st := range stages {
		out[i] = st != nil && st.Rate > 0
	}
	return out
}
