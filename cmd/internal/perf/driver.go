package perf

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/llmload/llmload/bench/clock"
	"github.com/llmload/llmload/bench/results"
)

// Figure is one row of the benchmark table.
type Figure struct {
	Name     string             `json:"name"`
	Target   string             `json:"target"`
	Measured string             `json:"measured"`
	OK       *bool              `json:"ok,omitempty"` // nil when the figure is reported, not judged
	Values   map[string]float64 `json:"values,omitempty"`
}

func judged(ok bool) *bool { return &ok }

// Driver runs the measurements behind `make bench`. Every load it starts is bounded in count
// and time, on loopback only.
type Driver struct {
	Go       string // the go command
	LLMLoad  string // the llmload binary
	Instant  string // the instantserver binary
	Floor    string // the floorclient binary; empty skips it
	AB, Hey  string // the other tools; empty skips their comparisons
	Dir      string // scratch files
	N        int    // requests per tool per round against the instant server
	Rounds   int    // paired rounds of the comparison; the median is kept
	LongRun  time.Duration
	Log      io.Writer // progress, one line per step
	Sections []string  // sections to run; empty = all

	figures []Figure
}

// Sections of a run, in order.
var Sections = []string{"parsers", "inprocess", "timing", "compare", "stream", "openloop", "memory", "longrun"}

// Run runs the selected sections and returns their figures. A section that fails reports its
// error as a failed figure; the others still run.
func (d *Driver) Run(ctx context.Context) []Figure {
	steps := map[string]func(context.Context) error{
		"parsers": d.parsers, "inprocess": d.inProcess, "timing": d.timing, "compare": d.compare,
		"stream": d.stream, "openloop": d.openLoop, "memory": d.memory, "longrun": d.longRun,
	}
	for _, name := range Sections {
		if len(d.Sections) > 0 && !slices.Contains(d.Sections, name) {
			continue
		}
		start := time.Now()
		d.logf("== %s", name)
		if err := steps[name](ctx); err != nil {
			d.add(Figure{Name: name, Target: "runs", Measured: "error: " + firstLine(err.Error()), OK: judged(false)})
			d.logf("   %s failed: %v", name, err)
		}
		d.logf("   %s took %s", name, time.Since(start).Round(time.Second))
	}
	return d.figures
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

func (d *Driver) logf(format string, args ...any) {
	if d.Log != nil {
		fmt.Fprintf(d.Log, format+"\n", args...)
	}
}

func (d *Driver) add(f Figure) { d.figures = append(d.figures, f) }

// goBench runs Go benchmarks and returns their metrics by benchmark name and unit.
func (d *Driver) goBench(ctx context.Context, pkg, pattern, benchtime string) (map[string]map[string]float64, error) {
	out, _, _, err := Run(ctx, d.Go, "test", "-run", "^$", "-bench", pattern, "-benchmem", "-benchtime", benchtime, "-count", "1", pkg)
	if err != nil {
		return nil, err
	}
	return ParseGoBench(out), nil
}

// ParseGoBench reads `go test -bench` output: metrics by benchmark (without the -N suffix) and
// unit.
func ParseGoBench(out string) map[string]map[string]float64 {
	res := map[string]map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
		res[name] = m
	}
	return res
}

func (d *Driver) parsers(ctx context.Context) error {
	res, err := d.goBench(ctx, "./bench/api", "^Benchmark(NDJSON|SSE)Reader$", "2s")
	if err != nil {
		return err
	}
	for _, p := range []struct{ bench, name string }{{"BenchmarkNDJSONReader", "NDJSON"}, {"BenchmarkSSEReader", "SSE"}} {
		m, ok := res[p.bench]
		if !ok {
			return fmt.Errorf("%s did not run", p.bench)
		}
		rate := m["chunks/s"]
		d.add(Figure{
			Name:     p.name + " reader, chunks/s on one core",
			Target:   "≥ 200k",
			Measured: fmt.Sprintf("%s (%.0f allocs per 1024-chunk stream)", si(rate), m["allocs/op"]),
			OK:       judged(rate >= 200e3),
			Values:   map[string]float64{"chunks_per_s": rate, "allocs_per_stream": m["allocs/op"]},
		})
	}
	return nil
}

func (d *Driver) inProcess(ctx context.Context) error {
	res, err := d.goBench(ctx, "./cmd/internal/perf", "^BenchmarkClosedLoopInstant$", "200000x")
	if err != nil {
		return err
	}
	m := res["BenchmarkClosedLoopInstant"]
	d.add(Figure{
		Name: "in-process closed loop c=50, req/s (Go benchmark)", Target: "reported",
		Measured: fmt.Sprintf("%s req/s, %.0f allocs/op, %.0f B/op", si(m["req/s"]), m["allocs/op"], m["B/op"]),
		Values:   map[string]float64{"req_per_s": m["req/s"], "allocs_per_op": m["allocs/op"], "bytes_per_op": m["B/op"]},
	})
	res, err = d.goBench(ctx, "./cmd/internal/perf", "^BenchmarkClosedLoopInstantStream$", "20000x")
	if err != nil {
		return err
	}
	m = res["BenchmarkClosedLoopInstantStream"]
	d.add(Figure{
		Name: "in-process streams c=256 × 64 chunks, chunks/s (Go benchmark)", Target: "reported",
		Measured: fmt.Sprintf("%s chunks/s, %.0f allocs per request", si(m["chunks/s"]), m["allocs/op"]),
		Values:   map[string]float64{"chunks_per_s": m["chunks/s"], "allocs_per_op": m["allocs/op"]},
	})
	return nil
}

func (d *Driver) timing(ctx context.Context) error {
	res, err := d.goBench(ctx, "./cmd/internal/perf", "^BenchmarkTimingAccuracy$", "1x")
	if err != nil {
		return err
	}
	m, ok := res["BenchmarkTimingAccuracy"]
	if !ok {
		return errors.New("BenchmarkTimingAccuracy did not run")
	}
	for _, f := range []struct{ name, unit string }{{"TTFT", "ttft-err-p99-ms"}, {"ITL", "itl-err-p99-ms"}} {
		v := m[f.unit]
		d.add(Figure{
			Name:     fmt.Sprintf("%s error vs server truth, p99, 256 streams × 20 ms/token", f.name),
			Target:   "≤ 1 ms",
			Measured: fmt.Sprintf("%.3f ms (%.0f gaps, ITL p50 %.2f ms)", v, m["gaps"], m["itl-p50-ms"]),
			OK:       judged(v <= 1),
			Values:   map[string]float64{"p99_ms": v},
		})
	}
	return nil
}

// writeBody writes a request body into the scratch directory.
func (d *Driver) writeBody(name string, stream bool, tokens int) (string, error) {
	path := filepath.Join(d.Dir, name)
	body := fmt.Sprintf(`{"model":"instant","prompt":"hi","stream":%t,"options":{"num_predict":%d}}`, stream, tokens)
	return path, os.WriteFile(path, []byte(body+"\n"), 0o644)
}

// llmloadRun runs `llmload run` with args and returns its first stage and the process's CPU.
func (d *Driver) llmloadRun(ctx context.Context, url, body string, args ...string) (*results.StageResult, time.Duration, error) {
	return d.llmloadRunOn(ctx, nil, url, body, args...)
}

// llmloadRunOn is llmloadRun with the command behind a prefix (taskset, see layout).
func (d *Driver) llmloadRunOn(ctx context.Context, prefix []string, url, body string, args ...string) (*results.StageResult, time.Duration, error) {
	out := filepath.Join(d.Dir, "results.json")
	full := append([]string{"run", "--url", url, "--body", body, "--warmup", "0", "--gpu", "off", "-q", "-o", out}, args...)
	_, cpu, _, err := runOn(ctx, prefix, d.LLMLoad, full...)
	if err != nil {
		return nil, 0, err
	}
	f, err := results.ReadFile(out)
	if err != nil {
		return nil, 0, err
	}
	if len(f.Runs) == 0 || len(f.Runs[0].Stages) == 0 {
		return nil, 0, errors.New("llmload: no stage in results")
	}
	st := f.Runs[0].Stages[0]
	if st.Requests.OK != st.Requests.Total {
		return nil, 0, fmt.Errorf("llmload: %d of %d requests failed: %v", st.Requests.Total-st.Requests.OK, st.Requests.Total, st.Requests.ErrorSamples)
	}
	return st, cpu, nil
}

// prefixed puts a command behind a prefix: ("taskset", "-c", "1") and ab -k … give taskset
// -c 1 ab -k ….
func prefixed(prefix []string, name string, args []string) (string, []string) {
	if len(prefix) == 0 {
		return name, args
	}
	return prefix[0], append(append(slices.Clone(prefix[1:]), name), args...)
}

// runOn is Run behind a prefix.
func runOn(ctx context.Context, prefix []string, name string, args ...string) (string, time.Duration, time.Duration, error) {
	name, args = prefixed(prefix, name, args)
	return Run(ctx, name, args...)
}

// toolRound is one paired round of the comparison.
type toolRound struct {
	rate map[string]float64
	cpu  map[string]time.Duration // per request
}

// layout is where the processes of a comparison run. Shared: anywhere, as the kernel
// schedules them, so that the client and the server compete for the same cores and a client's
// CPU per request shows in the server's rate. Own cores: the server on CPU 0 and each client,
// in turn, on CPU 1 (taskset), so that each side has a core of its own as a GPU server and its
// client do; then a client that keeps up with ab is not the bottleneck, the server is.
type layout struct {
	name           string
	server, client []string // command prefixes; empty when shared
}

var sharedCores = layout{name: "shared cores"}

// ownCores is the pinned layout, when the machine has two CPUs and taskset.
func ownCores() (layout, bool) {
	if runtime.NumCPU() < 2 {
		return layout{}, false
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return layout{}, false
	}
	return layout{name: "own cores", server: []string{"taskset", "-c", "0"}, client: []string{"taskset", "-c", "1"}}, true
}

// comparison is one server and layout llmload, ab -k and hey are compared on.
type comparison struct {
	server string   // how the table names it
	sim    bool     // the simulator's instant model rather than instantserver
	args   []string // instantserver's arguments
	at     layout
	n      int  // requests per tool per round
	judge  bool // whether the table judges the ratios and the self-check on llmload's saturated run
}

// compare measures llmload against ab -k and hey at c=50, stream:false. The targets are
// judged on the cheapest server there is (cmd/internal/instant), with the server on one core and
// each client in turn on the other: there the clients, not the server, set the rate, so the
// ratios are ratios of what each client can do on one core (on one CPU, or without taskset,
// the same server on shared cores is judged instead). Reported beside it: that server on shared
// cores; the same replies through Go's net/http, the HTTP stack of Ollama itself, on own and
// shared cores (what a user sees against Ollama's HTTP layer with no model); the simulator.
func (d *Driver) compare(ctx context.Context) error {
	body, err := d.writeBody("nostream.json", false, 1)
	if err != nil {
		return err
	}
	own, pinned := ownCores()
	netHTTP := []string{"-stack", "net/http"}
	var runs []comparison
	if pinned {
		runs = append(runs, comparison{server: "own instant server", at: own, n: d.N, judge: true})
	}
	runs = append(runs, comparison{server: "own instant server", at: sharedCores, n: d.N, judge: !pinned})
	if pinned {
		runs = append(runs, comparison{server: "net/http instant server", args: netHTTP, at: own, n: d.N / 2})
	}
	runs = append(runs, comparison{server: "net/http instant server", args: netHTTP, at: sharedCores, n: d.N / 2})
	// The simulator does real work per request (scheduler, batch loop, JSON): there the server
	// is the bottleneck, so its figures show what a user sees against a real server's code.
	runs = append(runs, comparison{server: "simulator", sim: true, at: sharedCores, n: d.N / 4})
	for _, cmp := range runs {
		if err := d.compareOne(ctx, cmp, body); err != nil {
			return fmt.Errorf("%s, %s: %w", cmp.server, cmp.at.name, err)
		}
	}
	return nil
}

func (d *Driver) compareOne(ctx context.Context, cmp comparison, body string) error {
	var srv *Process
	var url string
	var err error
	if cmp.sim {
		srv, url, err = StartSim(ctx, cmp.at.server, d.LLMLoad, "--model", "instant", "--num-parallel", "64")
	} else {
		name, args := prefixed(cmp.at.server, d.Instant, cmp.args)
		srv, url, err = StartServer(ctx, name, args...)
	}
	if err != nil {
		return err
	}
	defer srv.Stop()
	return d.compareOn(ctx, cmp, url, body)
}

// compareOn runs llmload, ab -k and hey in turn, Rounds times, at c=50 on one server, and
// reports the median of the per-round ratios (the rounds are paired: the machine's state moves
// between them, not within one; each round starts with the next tool, so that no tool always
// runs first).
func (d *Driver) compareOn(ctx context.Context, cmp comparison, url, body string) error {
	const c = 50
	n := max(cmp.n, 1000)
	where := cmp.server + ", " + cmp.at.name
	endpoint := url + "/api/generate"
	// Warm the server and its model.
	if _, _, err := d.llmloadRunOn(ctx, cmp.at.client, url, body, "-n", "100", "-c", "4"); err != nil {
		return err
	}
	var tools []string
	runTool := map[string]func(*toolRound) error{}
	var lastStage *results.StageResult
	tools = append(tools, "llmload")
	runTool["llmload"] = func(tr *toolRound) error {
		st, cpu, err := d.llmloadRunOn(ctx, cmp.at.client, url, body, "-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "-d", "5m")
		if err != nil {
			return err
		}
		lastStage = st
		tr.rate["llmload"], tr.cpu["llmload"] = st.Throughput.RequestsPerS, cpu/time.Duration(n)
		return nil
	}
	// The other tools: each prints its rate, which parse reads (and fails on any failed request).
	others := []struct {
		name, bin string
		args      []string
		parse     func(string) (float64, error)
		use       bool
	}{
		{"ab -k", d.AB, []string{"-k", "-l", "-q", "-s", "60", "-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "-p", body, "-T", "application/json", endpoint}, ParseAB, true},
		{"hey", d.Hey, []string{"-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "-t", "60", "-m", "POST", "-T", "application/json", "-D", body, endpoint}, ParseHey, true},
		{"Go floor", d.Floor, []string{"-url", endpoint, "-body", body, "-c", strconv.Itoa(c), "-n", strconv.Itoa(n)}, ParseFloor, cmp.judge},
	}
	for _, o := range others {
		if o.bin == "" || !o.use {
			continue
		}
		tools = append(tools, o.name)
		runTool[o.name] = func(tr *toolRound) error {
			out, cpu, _, err := runOn(ctx, cmp.at.client, o.bin, o.args...)
			if err != nil {
				return err
			}
			if tr.rate[o.name], err = o.parse(out); err != nil {
				return err
			}
			tr.cpu[o.name] = cpu / time.Duration(n)
			return nil
		}
	}
	var rounds []toolRound
	for r := range d.Rounds {
		tr := toolRound{rate: map[string]float64{}, cpu: map[string]time.Duration{}}
		for i := range tools {
			if err := runTool[tools[(r+i)%len(tools)]](&tr); err != nil {
				return err
			}
		}
		d.logf("   %s round %d: %s", where, r+1, formatRates(tr.rate))
		rounds = append(rounds, tr)
	}
	med := func(f func(toolRound) float64) float64 {
		var v []float64
		for _, r := range rounds {
			v = append(v, f(r))
		}
		return results.Median(v)
	}
	rate := func(tool string) float64 { return med(func(r toolRound) float64 { return r.rate[tool] }) }
	for _, o := range []struct {
		tool string
		want float64
	}{{"ab -k", 1}, {"hey", 2}} {
		if _, ok := rounds[0].rate[o.tool]; !ok {
			continue
		}
		ratio := med(func(r toolRound) float64 { return r.rate["llmload"] / r.rate[o.tool] })
		f := Figure{
			Name:   fmt.Sprintf("req/s, c=50, stream:false vs %s (%s)", o.tool, where),
			Target: fmt.Sprintf("≥ %.2f×", o.want),
			Measured: fmt.Sprintf("%.2f× (llmload %s, %s %s req/s; median of %d)", ratio, si(rate("llmload")), o.tool,
				si(rate(o.tool)), len(rounds)),
			Values: map[string]float64{"ratio": ratio, "llmload_req_per_s": rate("llmload"), "other_req_per_s": rate(o.tool)},
		}
		if cmp.judge {
			f.OK = judged(ratio >= o.want)
		} else {
			f.Target = "reported"
		}
		d.add(f)
	}
	if _, ok := rounds[0].rate["Go floor"]; ok && d.AB != "" {
		ratio := med(func(r toolRound) float64 { return r.rate["Go floor"] / r.rate["ab -k"] })
		d.add(Figure{
			Name:   fmt.Sprintf("req/s of the Go floor (one epoll loop, no timing or parsing) vs ab -k (%s)", where),
			Target: "reported",
			Measured: fmt.Sprintf("%.2f× (Go floor %s, ab -k %s req/s; median of %d)", ratio, si(rate("Go floor")), si(rate("ab -k")),
				len(rounds)),
			Values: map[string]float64{"ratio": ratio, "floor_req_per_s": rate("Go floor"), "other_req_per_s": rate("ab -k")},
		})
	}
	var parts []string
	values := map[string]float64{}
	for _, tool := range tools {
		us := med(func(r toolRound) float64 { return float64(r.cpu[tool]) / 1e3 })
		parts = append(parts, fmt.Sprintf("%s %.1f", tool, us))
		values[strings.ReplaceAll(strings.ReplaceAll(strings.ToLower(tool), " -k", ""), " ", "_")+"_cpu_us"] = us
	}
	if lastStage != nil {
		parts = append(parts, fmt.Sprintf("(llmload at %.0f%% of a core)", lastStage.Client.CPUPct))
	}
	d.add(Figure{Name: fmt.Sprintf("client CPU per request, µs (%s)", where), Target: "reported", Measured: strings.Join(parts, " · "), Values: values})
	if lastStage != nil && cmp.judge {
		cc := lastStage.Client
		measured := "not flagged"
		if cc.Overloaded {
			measured = "flagged: " + cc.Reason
		}
		d.add(Figure{
			Name: fmt.Sprintf("self-check on the saturated c=50 run (%s)", where), Target: "flags the client",
			Measured: fmt.Sprintf("%s (GC pauses %.1f ms)", measured, cc.GCPauseMs), OK: judged(cc.Overloaded),
			Values: map[string]float64{"cpu_pct": cc.CPUPct, "send_lag_p99_ms": cc.SendLagP99Ms, "gc_pause_ms": cc.GCPauseMs},
		})
	}
	return nil
}

func formatRates(m map[string]float64) string {
	var parts []string
	for _, tool := range []string{"llmload", "ab -k", "hey", "Go floor"} {
		if v, ok := m[tool]; ok {
			parts = append(parts, fmt.Sprintf("%s %s", tool, si(v)))
		}
	}
	return strings.Join(parts, ", ")
}

// si writes a rate with a k or M suffix.
func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func (d *Driver) stream(ctx context.Context) error {
	body, err := d.writeBody("stream64.json", true, 64)
	if err != nil {
		return err
	}
	sim, url, err := StartSim(ctx, nil, d.LLMLoad, "--model", "instant", "--num-parallel", "256")
	if err != nil {
		return err
	}
	defer sim.Stop()
	if _, _, err := d.llmloadRun(ctx, url, body, "-n", "256", "-c", "256"); err != nil {
		return err
	}
	st, _, err := d.llmloadRun(ctx, url, body, "-c", "256", "-d", "10s", "-n", "10000000")
	if err != nil {
		return err
	}
	chunks := st.Throughput.OutputTokensPerS // one token per chunk in the simulator
	d.add(Figure{
		Name: "streaming end to end, c=256 × 64 chunks vs simulator (instant), chunks/s", Target: "reported",
		Measured: fmt.Sprintf("%s chunks/s (%s req/s; client CPU %.0f%% of a core)", si(chunks), si(st.Throughput.RequestsPerS), st.Client.CPUPct),
		Values:   map[string]float64{"chunks_per_s": chunks, "req_per_s": st.Throughput.RequestsPerS, "cpu_pct": st.Client.CPUPct},
	})
	return nil
}

// openLoopRuns is how many 10 s open-loop runs are made; their median p99 is kept, because
// a shared machine's own stalls (a VM's vCPU waiting for its host) come in bursts that can
// take one run's p99 past a millisecond on their own (see the timer jitter figure).
const openLoopRuns = 3

func (d *Driver) openLoop(ctx context.Context) error {
	body, err := d.writeBody("nostream.json", false, 1)
	if err != nil {
		return err
	}
	srv, url, err := StartServer(ctx, d.Instant)
	if err != nil {
		return err
	}
	defer srv.Stop()
	var p99s, p50s, maxes []float64
	var n int64
	var cc results.ClientCheck
	flagged := 0
	for range openLoopRuns {
		st, _, err := d.llmloadRun(ctx, url, body, "--rate", "1000", "-d", "10s")
		if err != nil {
			return err
		}
		lag := st.LatencyMs[results.MetricSendLag]
		p99s, p50s, maxes = append(p99s, lag.P99), append(p50s, lag.P50), append(maxes, lag.Max)
		n += lag.N
		cc = st.Client
		if cc.Overloaded {
			flagged++
		}
		d.logf("   send lag p99 %.3f ms, max %.2f ms", lag.P99, lag.Max)
	}
	p99 := results.Median(p99s)
	d.add(Figure{
		Name: "open loop 1000 req/s, send lag p99 (actual − intended)", Target: "≤ 1 ms",
		Measured: fmt.Sprintf("%.3f ms (median of %d × 10 s: %s; p50 %.3f, max %.2f; %d requests)", p99, openLoopRuns,
			joinFloats(p99s, "%.2f"), results.Median(p50s), slices.Max(maxes), n),
		OK:     judged(n > 0 && p99 <= 1),
		Values: map[string]float64{"p99_ms": p99, "p50_ms": results.Median(p50s), "max_ms": slices.Max(maxes)},
	})
	measured := fmt.Sprintf("not flagged in %d runs (CPU %.0f%% of a core, GC pauses %.1f ms)", openLoopRuns, cc.CPUPct, cc.GCPauseMs)
	if flagged > 0 {
		measured = fmt.Sprintf("flagged in %d of %d runs: %s", flagged, openLoopRuns, cc.Reason)
	}
	d.add(Figure{Name: "self-check at 1000 req/s", Target: "not flagged", Measured: measured, OK: judged(flagged == 0),
		Values: map[string]float64{"cpu_pct": cc.CPUPct, "gc_pause_ms": cc.GCPauseMs}})

	// The machine's own timer jitter, for scale: the same 1 ms sleeps with nothing else to do.
	j := timerJitter(5000, time.Millisecond)
	d.add(Figure{
		Name: "this machine's timer jitter (bare 1 ms sleeps, for scale)", Target: "reported",
		Measured: fmt.Sprintf("p50 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.2f ms", j[0], j[1], j[2], j[3]),
		Values:   map[string]float64{"p50_ms": j[0], "p99_ms": j[1], "p999_ms": j[2], "max_ms": j[3]},
	})
	return nil
}

func joinFloats(v []float64, format string) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf(format, x)
	}
	return strings.Join(parts, ", ")
}

// timerJitter sleeps n times until the next tick of period, as the open loop does, and
// returns the lateness's p50, p99, p99.9 and max in milliseconds.
func timerJitter(n int, period time.Duration) [4]float64 {
	lags := make([]float64, 0, n)
	start := time.Now()
	for i := 1; i <= n; i++ {
		target := start.Add(time.Duration(i) * period)
		if d := time.Until(target); d > 0 {
			clock.Sleep(d)
		}
		lags = append(lags, float64(time.Since(target))/1e6)
	}
	slices.Sort(lags)
	q := func(p float64) float64 { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	return [4]float64{q(0.5), q(0.99), q(0.999), lags[len(lags)-1]}
}

// watch samples a process's memory every interval until it ends.
func watch(p *Process, interval time.Duration) (samples []Memory, peak Memory) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if m, err := ReadMemory(p.Pid()); err == nil {
			samples = append(samples, m)
			peak.RSS, peak.HWM = max(peak.RSS, m.RSS), max(peak.HWM, m.HWM)
		}
		select {
		case <-p.Done():
			return samples, peak
		case <-t.C:
		}
	}
}

func (d *Driver) memory(ctx context.Context) error {
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	body, err := d.writeBody("stream10.json", true, 10)
	if err != nil {
		return err
	}
	// Streams of 10 chunks 800 ms apart: 8 s each, long enough that all of them are in flight
	// at once even when some connections wait out a full listen backlog.
	srv, url, err := StartServer(ctx, d.Instant, "-delay", "800ms")
	if err != nil {
		return err
	}
	defer srv.Stop()
	for _, n := range []int{1000, 10000} {
		name := fmt.Sprintf("RSS per in-flight stream at %d streams (client process)", n)
		if need := uint64(n + 200); lim.Max < need {
			d.add(Figure{Name: name, Target: "≤ 64 KiB", Measured: fmt.Sprintf("skipped: RLIMIT_NOFILE hard limit %d < %d", lim.Max, need), OK: judged(false)})
			continue
		}
		out := filepath.Join(d.Dir, "memory.json")
		p, err := Start(ctx, d.LLMLoad, "run", "--url", url, "--body", body, "-n", strconv.Itoa(n), "-c", strconv.Itoa(n),
			"-d", "2m", "--warmup", "0", "--gpu", "off", "-q", "-o", out)
		if err != nil {
			return err
		}
		_, peak := watch(p, 100*time.Millisecond)
		if err := p.Wait(); err != nil {
			return fmt.Errorf("llmload at %d streams: %w: %s", n, err, tail(p.Output(), 400))
		}
		f, err := results.ReadFile(out)
		if err != nil {
			return err
		}
		st := f.Runs[0].Stages[0]
		inFlight := 0.0
		for _, tp := range st.Timeline {
			inFlight = max(inFlight, tp.InFlight)
		}
		perStream := float64(peak.HWM) / float64(n)
		d.add(Figure{
			Name: name, Target: "≤ 64 KiB",
			Measured: fmt.Sprintf("%.1f KiB (peak RSS %.1f MiB; %d ok; peak in flight %.0f, 1 s mean)", perStream, float64(peak.HWM)/1024,
				st.Requests.OK, inFlight),
			OK:     judged(perStream <= 64 && st.Requests.OK == n),
			Values: map[string]float64{"kib_per_stream": perStream, "peak_rss_kib": float64(peak.HWM), "peak_in_flight": inFlight},
		})
	}
	return nil
}

func (d *Driver) longRun(ctx context.Context) error {
	body, err := d.writeBody("nostream.json", false, 1)
	if err != nil {
		return err
	}
	srv, url, err := StartServer(ctx, d.Instant)
	if err != nil {
		return err
	}
	defer srv.Stop()
	records := filepath.Join(d.Dir, "records.jsonl")
	defer os.Remove(records)
	out := filepath.Join(d.Dir, "longrun.json")
	secs := int(d.LongRun / time.Second)
	p, err := Start(ctx, d.LLMLoad, "run", "--url", url, "--body", body, "--rate", "5000", "-d", fmt.Sprintf("%ds", secs),
		"--warmup", "0", "--gpu", "off", "-q", "-o", out, "--records", records)
	if err != nil {
		return err
	}
	samples, _ := watch(p, time.Second)
	if err := p.Wait(); err != nil {
		return fmt.Errorf("llmload: %w: %s", err, tail(p.Output(), 400))
	}
	if len(samples) < 8 {
		return fmt.Errorf("only %d memory samples", len(samples))
	}
	window := func(from, to float64) int64 {
		var m int64
		for _, s := range samples[int(from*float64(len(samples))):int(to*float64(len(samples)))] {
			m = max(m, s.RSS)
		}
		return m
	}
	early, late := window(0.25, 0.5), window(0.75, 1)
	growth := 100 * (float64(late)/float64(early) - 1)
	fi, _ := os.Stat(records)
	var size int64
	if fi != nil {
		size = fi.Size()
	}
	d.add(Figure{
		Name: fmt.Sprintf("memory over a %d s run at 5000 req/s with --records", secs), Target: "constant (≤ +10 %)",
		Measured: fmt.Sprintf("%+.1f %% (peak RSS %.1f MiB in the second quarter, %.1f MiB in the last; %.0f MiB of records)",
			growth, float64(early)/1024, float64(late)/1024, float64(size)/(1<<20)),
		OK:     judged(growth <= 10),
		Values: map[string]float64{"growth_pct": growth, "early_rss_kib": float64(early), "late_rss_kib": float64(late)},
	})
	return nil
}

// WriteTable prints the figures as one table.
func WriteTable(w io.Writer, figs []Figure) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\ttarget\tmeasured\tok")
	for _, f := range figs {
		ok := "—"
		if f.OK != nil {
			ok = "no"
			if *f.OK {
				ok = "yes"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, f.Target, f.Measured, ok)
	}
	return tw.Flush()
}

// Record is one run of `make bench` as tracked in the history file.
type Record struct {
	Time    time.Time `json:"time"`
	Commit  string    `json:"commit,omitempty"`
	Host    string    `json:"host,omitempty"`
	CPUs    int       `json:"cpus"`
	Figures []Figure  `json:"figures"`
}

// Track writes latest.json and appends the record to history.jsonl in dir.
func Track(dir string, rec Record) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	line, _ := json.Marshal(rec)
	f, err := os.OpenFile(filepath.Join(dir, "history.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(append(line, '\n'))
	return err
}
