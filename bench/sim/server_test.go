package sim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// GPU memory is weights + overhead + NUM_PARALLEL × KV per slot for each loaded runner, all
// of it taken at load; a sweep over NUM_PARALLEL recovers MiB per slot as the slope.
func TestGPUMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	used := map[int]float64{}
	for _, np := range []int{1, 4, 8} {
		srv, _ := startServer(t, Config{NumParallel: np, Speed: 1000})
		if g := srv.GPU(); g.MemoryUsedMiB != 0 || g.MemoryTotalMiB != 81559 || !strings.Contains(g.Name, "simulated") {
			t.Errorf("idle GPU = %+v", g)
		}
		if err := srv.Preload(ctx, "llama3.2:1b"); err != nil {
			t.Fatal(err)
		}
		used[np] = srv.GPU().MemoryUsedMiB
		p := srv.Models()[2]
		if want := p.WeightsMiB + p.OverheadMiB + float64(np)*128; used[np] != want {
			t.Errorf("NUM_PARALLEL=%d: %.1f MiB used, want %.1f", np, used[np], want)
		}
	}
	if slope := (used[8] - used[1]) / 7; slope != 128 {
		t.Errorf("MiB per extra slot = %v, want 128", slope)
	}

	// Two models: the sum.
	srv, _ := startServer(t, Config{NumParallel: 2, Speed: 1000})
	for _, m := range []string{"llama3.2:1b", "codellama:7b"} {
		if err := srv.Preload(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	ms := srv.Models()
	want := ms[2].RunnerMiB(2, 4096) + ms[0].RunnerMiB(2, 4096)
	if got := srv.GPU().MemoryUsedMiB; math.Abs(got-want) > 1e-9 {
		t.Errorf("two models: %.1f MiB, want %.1f", got, want)
	}

	// Too many slots for the card: the model is partly offloaded (size_vram < size), memory
	// is full, and decoding is slower.
	small := GPUSpec{Name: "Tiny", MemoryTotalMiB: 4096, IdleW: 10, MaxW: 100}
	srv, _ = startServer(t, Config{NumParallel: 2, Speed: 1000, GPU: small})
	if name := srv.GPU().Name; name != "Tiny (simulated)" {
		t.Errorf("GPU name %q not labelled simulated", name)
	}
	if err := srv.Preload(ctx, "codellama:7b"); err != nil {
		t.Fatal(err)
	}
	m := srv.Stats().Models[0]
	if m.VRAMMiB != 4096 || m.SizeMiB <= m.VRAMMiB || srv.GPU().MemoryUsedMiB != 4096 {
		t.Errorf("offloaded: size %.0f vram %.0f used %.0f", m.SizeMiB, m.VRAMMiB, srv.GPU().MemoryUsedMiB)
	}
}

// Utilization follows the batch loop: up while decoding, back down when idle; power follows
// it and energy only grows.
func TestGPUUtilization(t *testing.T) {
	t.Parallel()
	p := testProfile("m")
	p.LoadTime = 0
	srv, ts := startServer(t, Config{NumParallel: 4, Speed: 10, Models: []Profile{p}})
	ctx := context.Background()
	idle := srv.GPU()
	if idle.UtilizationPct != 0 || idle.PowerW != DefaultGPU().IdleW {
		t.Errorf("idle: %+v", idle)
	}
	done := make(chan outcome, 4)
	for range 4 {
		go func() {
			done <- do(ctx, ts.URL, "/api/generate", generate("m", map[string]any{"options": map[string]any{"num_predict": 100}}), nil)
		}()
	}
	var peak GPUState
	eventually(t, "utilization to rise", func() bool {
		peak = srv.GPU()
		return peak.UtilizationPct > 60
	})
	if peak.UtilizationPct > 90.0001 || peak.PowerW <= idle.PowerW {
		t.Errorf("busy: %+v (profile busy_util_pct 90)", peak)
	}
	for range 4 {
		mustOK(t, <-done)
	}
	eventually(t, "utilization to fall", func() bool { return srv.GPU().UtilizationPct < 5 })
	end := srv.GPU()
	if end.EnergyJ <= peak.EnergyJ || peak.EnergyJ <= idle.EnergyJ {
		t.Errorf("energy not increasing: %v %v %v", idle.EnergyJ, peak.EnergyJ, end.EnergyJ)
	}
}

// The instant profile carries thousands of concurrent streams on a couple of cores.
func TestThousandsOfStreams(t *testing.T) {
	t.Parallel()
	n := 2000
	if testing.Short() {
		n = 300
	}
	srv, ts := startServer(t, Config{NumParallel: 64, Models: []Profile{mustPreset(t, "instant")}})
	// Warm first: a burst of 2000 at a cold model overflows the pending queue (512) with 503s,
	// as it would on a real Ollama.
	if err := srv.Preload(context.Background(), "instant"); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: 0}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var failed, tokens atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	body := []byte(`{"model":"instant","prompt":"hello there","options":{"num_predict":16}}`)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(ts.URL+"/api/generate", "application/json", bytes.NewReader(body))
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			defer resp.Body.Close()
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			lines := bytes.Count(b.Bytes(), []byte("\n"))
			if resp.StatusCode != 200 || lines != 17 || !bytes.Contains(b.Bytes(), []byte(`"done":true`)) {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Sprintf("status %d, %d lines", resp.StatusCode, lines))
				return
			}
			tokens.Add(int64(lines - 1))
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d streams failed; first: %v", failed.Load(), n, firstErr.Load())
	}
	if tokens.Load() != int64(16*n) {
		t.Errorf("%d tokens, want %d", tokens.Load(), 16*n)
	}
	if st := srv.Stats(); st.Requests != int64(n) {
		t.Errorf("server counted %d requests", st.Requests)
	}
}

func mustPreset(t testing.TB, name string) Profile {
	t.Helper()
	for _, p := range Presets() {
		if p.Name == normalizeModelName(name) {
			return p
		}
	}
	t.Fatalf("no preset %s", name)
	return Profile{}
}

// Close stops every goroutine the server started, even with requests queued and decoding.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	// Not parallel: it counts goroutines.
	before := runtime.NumGoroutine()
	p := testProfile("m")
	p.LoadTime = 0
	cold := testProfile("cold")
	cold.LoadTime = time.Hour
	srv, err := New(Config{NumParallel: 2, Speed: 10, Models: []Profile{p, cold}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Preload(context.Background(), "m"); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	tr := &http.Transport{}
	client := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			model := "m"
			if i == 5 {
				model = "cold" // held in the scheduler, loading
			}
			body := fmt.Sprintf(`{"model":%q,"prompt":"x","options":{"num_predict":100000}}`, model)
			resp, err := client.Post(ts.URL+"/api/generate", "application/json", strings.NewReader(body))
			if err == nil {
				var b bytes.Buffer
				b.ReadFrom(resp.Body)
				resp.Body.Close()
			}
		}()
	}
	eventually(t, "2 decoding, 3 waiting for a slot, 1 loading", func() bool {
		st := srv.Stats()
		return len(st.Models) == 2 && st.Models[1].Active == 2 && st.Models[1].SlotWaiting == 3
	})
	srv.Close()
	wg.Wait()
	ts.Close()
	tr.CloseIdleConnections()
	eventually(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	srv.Close() // twice is fine
}

func TestListenAndServe(t *testing.T) {
	t.Parallel()
	var log syncBuffer
	srv, err := New(Config{Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(ctx, "127.0.0.1:0") }()
	var addr string
	eventually(t, "the listening line", func() bool {
		s := log.String()
		i := strings.Index(s, "Listening on ")
		if i < 0 {
			return false
		}
		addr = strings.Fields(s[i+len("Listening on "):])[0]
		return true
	})
	o := do(context.Background(), "http://"+addr, "/", nil, nil)
	if o.status != 200 || string(o.body) != "Ollama is running" {
		t.Errorf("GET / = %d %q", o.status, o.body)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("ListenAndServe after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ListenAndServe did not return after cancel")
	}
	if err := srv.ListenAndServe(context.Background(), "256.0.0.1:1"); err == nil {
		t.Errorf("bad address accepted")
	}
}

// syncBuffer is a log writer safe for the server's goroutines and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A runner load logs a line with the model and parallel=N, as `ollama serve` does, which a
// sweep reads to check that NUM_PARALLEL took effect. Requests are logged only at debug.
func TestLogging(t *testing.T) {
	t.Parallel()
	for _, debug := range []bool{false, true} {
		var log syncBuffer
		srv, ts := startServer(t, Config{NumParallel: 4, Speed: 1000, Log: &log, Debug: debug})
		if err := srv.Preload(context.Background(), "llama3.2:1b"); err != nil {
			t.Fatal(err)
		}
		mustOK(t, do(context.Background(), ts.URL, "/api/generate", generate("instant", map[string]any{"options": map[string]any{"num_predict": 1}}), nil))
		out := log.String()
		var loadLine string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "runner started") && strings.Contains(l, "model=llama3.2:1b") {
				loadLine = l
			}
		}
		if !strings.Contains(loadLine, "parallel=4") || !strings.Contains(loadLine, "simulated") {
			t.Errorf("no load line with parallel=4 for llama3.2:1b in:\n%s", out)
		}
		if !strings.Contains(out, "OLLAMA_NUM_PARALLEL=4") {
			t.Errorf("no server config line:\n%s", out)
		}
		if got := strings.Contains(out, "path=/api/generate"); got != debug {
			t.Errorf("debug=%v: request logged = %v:\n%s", debug, got, out)
		}
	}
}

func TestPreloadErrors(t *testing.T) {
	t.Parallel()
	srv, _ := startServer(t, Config{})
	if err := srv.Preload(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Preload(nope) = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Preload(ctx, "codellama:7b"); !errors.Is(err, context.Canceled) {
		t.Errorf("Preload with a cancelled context = %v", err)
	}
	if _, err := srv.MiBPerSlot("nope"); err == nil {
		t.Errorf("MiBPerSlot(nope) accepted")
	}
}

// BenchmarkInstantStreams measures how many complete 16-token streams per second the server
// (and this process's HTTP client) sustain on the instant profile.
func BenchmarkInstantStreams(b *testing.B) {
	srv, ts := startServer(b, Config{NumParallel: 64, Models: []Profile{mustPreset(b, "instant")}})
	if err := srv.Preload(context.Background(), "instant"); err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	body := []byte(`{"model":"instant","prompt":"hello there","options":{"num_predict":16}}`)
	b.SetParallelism(16)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var buf bytes.Buffer
		for pb.Next() {
			resp, err := client.Post(ts.URL+"/api/generate", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			buf.Reset()
			buf.ReadFrom(resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "streams/s")
}
