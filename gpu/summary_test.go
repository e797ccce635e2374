package gpu

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/results"
)

// buildSeries makes a series with one round per second at t = 0, 1, 2, … s; fill sets
// device d's sample in round r.
func buildSeries(devices, rounds int, fill func(r, d int, s *results.GPUSample)) results.GPUSeries {
	series := results.GPUSeries{IntervalMS: 1000, RoundsPerSample: 1}
	for d := range devices {
		series.Devices = append(series.Devices, results.GPUDevice{Index: d, Name: "dev"})
	}
	for r := range rounds {
		for d := range devices {
			s := results.GPUSample{At: time.Duration(r) * time.Second, Device: d}
			fill(r, d, &s)
			series.Samples = append(series.Samples, s)
		}
	}
	return series
}

func val(t *testing.T, name string, p *float64, want float64) {
	t.Helper()
	if p == nil {
		t.Errorf("%s = null, want %v", name, want)
		return
	}
	if math.Abs(*p-want) > 1e-9 {
		t.Errorf("%s = %v, want %v", name, *p, want)
	}
}

func null(t *testing.T, name string, p *float64) {
	t.Helper()
	if p != nil {
		t.Errorf("%s = %v, want null", name, *p)
	}
}

func TestSummarizeOneDevice(t *testing.T) {
	// Memory 1000 MiB before the stage, rising by 100 MiB a second from t = 3 s; utilization
	// r × 10 %; power 200 W; energy counter 200 J per second from 0.
	series := buildSeries(1, 11, func(r, _ int, s *results.GPUSample) {
		s.Set(results.GPUMemoryUsed, 1000+100*max(0, float64(r-2)))
		s.Set(results.GPUMemoryTotal, 81559)
		s.Set(results.GPUUtilization, float64(r*10))
		s.Set(results.GPUPower, 200)
		s.Set(results.GPUEnergy, float64(200*r))
		s.Set(results.GPUTemperature, 30+float64(r))
	})
	sum := Summarize(series, 2500*time.Millisecond, 6500*time.Millisecond, 400)
	// Rounds 3, 4, 5, 6 are inside: memory 1100..1400, utilization 30..60.
	if sum.Rounds != 4 || len(sum.Devices) != 1 {
		t.Fatalf("samples %d, devices %d", sum.Rounds, len(sum.Devices))
	}
	val(t, "peak", sum.MemoryUsedPeakMiB, 1400)
	val(t, "mean", sum.MemoryUsedMeanMiB, 1250)
	val(t, "before", sum.MemoryUsedBeforeMiB, 1000) // round 2
	val(t, "total", sum.MemoryTotalMiB, 81559)
	val(t, "util mean", sum.UtilizationMeanPct, 45)
	val(t, "util p95", sum.UtilizationP95Pct, 60)
	val(t, "power", sum.PowerMeanW, 200)
	val(t, "temperature", sum.TemperatureMaxC, 36)
	// 4 s at 200 W, from the counter, interpolated at both ends.
	val(t, "energy", sum.EnergyJ, 800)
	val(t, "J/token", sum.JoulesPerOutputToken, 2)
	if sum.EnergySource != results.GPUEnergyFromCounter {
		t.Errorf("energy source %q", sum.EnergySource)
	}
	null(t, "clock", sum.SMClockMeanMHz)
	null(t, "process memory", sum.ProcessMemoryPeakMiB)
	if sum.Devices[0].Index != 0 || sum.Devices[0].Name != "dev" {
		t.Errorf("device = %+v", sum.Devices[0])
	}
	val(t, "device peak", sum.Devices[0].MemoryUsedPeakMiB, 1400)
}

func TestSummarizeEnergyFromPower(t *testing.T) {
	// No counter: power ramps 100 W → 200 W over 10 s; ∫ over [2 s, 6 s] = 4 s × 140 W mean.
	series := buildSeries(1, 11, func(r, _ int, s *results.GPUSample) { s.Set(results.GPUPower, 100+10*float64(r)) })
	sum := Summarize(series, 2*time.Second, 6*time.Second, 0)
	val(t, "energy", sum.EnergyJ, 560)
	if sum.EnergySource != results.GPUEnergyFromPower {
		t.Errorf("energy source %q", sum.EnergySource)
	}
	null(t, "J/token without tokens", sum.JoulesPerOutputToken)

	// Between rounds, a stage shorter than the interval still gets its energy.
	sum = Summarize(series, 2250*time.Millisecond, 2750*time.Millisecond, 10)
	val(t, "short stage energy", sum.EnergyJ, 0.5*125)
	if sum.Rounds != 0 {
		t.Errorf("short stage has %d rounds", sum.Rounds)
	}
	null(t, "short stage util", sum.UtilizationMeanPct)
}

func TestSummarizeClipsToTheSeries(t *testing.T) {
	series := buildSeries(1, 5, func(r, _ int, s *results.GPUSample) {
		s.Set(results.GPUEnergy, float64(10*r))
		s.Set(results.GPUMemoryUsed, 500)
	})
	// The stage runs past the last round (4 s): energy only for what was measured.
	sum := Summarize(series, 2*time.Second, 10*time.Second, 0)
	val(t, "energy", sum.EnergyJ, 20)
	// A stage entirely outside the series has nothing.
	sum = Summarize(series, 20*time.Second, 30*time.Second, 5)
	null(t, "energy outside", sum.EnergyJ)
	null(t, "memory outside", sum.MemoryUsedPeakMiB)
	// A stage from the very start has no "before".
	sum = Summarize(series, 0, 2*time.Second, 0)
	null(t, "before at start", sum.MemoryUsedBeforeMiB)
	// An empty or backwards window is empty, not a crash.
	if s := Summarize(series, 3*time.Second, 2*time.Second, 0); s.Rounds != 0 || s.EnergyJ != nil {
		t.Errorf("backwards window = %+v", s)
	}
	if s := Summarize(results.GPUSeries{}, 0, time.Hour, 1); s.Rounds != 0 || s.Devices != nil {
		t.Errorf("empty series = %+v", s)
	}
}

func TestSummarizeSeveralDevices(t *testing.T) {
	series := buildSeries(2, 5, func(r, d int, s *results.GPUSample) {
		s.Set(results.GPUMemoryUsed, float64(1000*(d+1)))
		s.Set(results.GPUUtilization, float64(20+60*d)) // 20 % and 80 %
		s.Set(results.GPUPower, float64(100*(d+1)))
		s.Set(results.GPUEnergy, float64(r*100*(d+1)))
		s.Set(results.GPUTemperature, float64(40+d))
		if d == 1 && r == 3 {
			s.Valid &^= results.GPUMemoryUsed | results.GPUUtilization // device 1 failed a round
		}
	})
	sum := Summarize(series, time.Second, 4*time.Second, 600)
	val(t, "total peak", sum.MemoryUsedPeakMiB, 3000)
	val(t, "total mean", sum.MemoryUsedMeanMiB, 3000) // the failed round does not dip
	val(t, "total before", sum.MemoryUsedBeforeMiB, 3000)
	val(t, "util mean of devices", sum.UtilizationMeanPct, 50)
	val(t, "power sum", sum.PowerMeanW, 300)
	val(t, "temperature max", sum.TemperatureMaxC, 41)
	val(t, "energy sum", sum.EnergyJ, 900)
	val(t, "J/token", sum.JoulesPerOutputToken, 1.5)
	if sum.Rounds != 4 || sum.Devices[1].Rounds != 4 {
		t.Errorf("samples %d/%d", sum.Rounds, sum.Devices[1].Rounds)
	}
	val(t, "device 1 util", sum.Devices[1].UtilizationMeanPct, 80)
	val(t, "device 0 energy", sum.Devices[0].EnergyJ, 300)

	// One device without a counter: its energy comes from power, and the total says so.
	for i := range series.Samples {
		if series.Samples[i].Device == 1 {
			series.Samples[i].Valid &^= results.GPUEnergy
		}
	}
	sum = Summarize(series, time.Second, 4*time.Second, 0)
	val(t, "mixed energy", sum.EnergyJ, 300+600)
	if sum.EnergySource != results.GPUEnergyMixed {
		t.Errorf("energy source %q", sum.EnergySource)
	}
}

func TestSummarizeUtilizationP95(t *testing.T) {
	// 100 rounds at 1..100 %: the nearest-rank p95 is 95.
	series := buildSeries(1, 100, func(r, _ int, s *results.GPUSample) { s.Set(results.GPUUtilization, float64(r+1)) })
	sum := Summarize(series, 0, time.Hour, 0)
	val(t, "p95", sum.UtilizationP95Pct, 95)
	val(t, "mean", sum.UtilizationMeanPct, 50.5)
}

func TestWindow(t *testing.T) {
	series := buildSeries(2, 10, func(r, _ int, s *results.GPUSample) { s.Set(results.GPUMemoryUsed, float64(r)) })
	series.Notices = []string{"x"}
	w := Window(series, 2*time.Second, 4500*time.Millisecond)
	if len(w.Samples) != 6 || w.Samples[0].At != 2*time.Second || w.Samples[5].At != 4*time.Second {
		t.Errorf("window samples = %+v", w.Samples)
	}
	if len(w.Devices) != 2 || w.Notices != nil {
		t.Errorf("window header = %+v", w)
	}
	// Appending to a window must not overwrite the series.
	_ = append(w.Samples, results.GPUSample{})
	if series.Samples[12].At != 6*time.Second {
		t.Error("window shares capacity with the series")
	}
}

// Users script against these names of the results file, so they are fixed: "gpu":
// {"available", "reason", "devices": [{"name", "memory_total_mib"}]} per run, and
// "memory_used_peak_mib", "utilization_mean_pct", "energy_j" per stage.
func TestResultsFileNames(t *testing.T) {
	_, info, err := open(ModeNVML, Options{}, fakeLib(newFake(h100())))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(info)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"available", "reason", "backend", "simulated", "devices"} {
		if _, ok := m[k]; !ok {
			t.Errorf("info JSON lacks %q: %s", k, b)
		}
	}
	dev := m["devices"].([]any)[0].(map[string]any)
	if dev["name"] != "NVIDIA H100 80GB HBM3" || dev["memory_total_mib"] != 81559.0 {
		t.Errorf("device JSON = %v", dev)
	}

	_, off, _ := open(ModeOff, Options{}, fakeLib(newFake()))
	b, _ = json.Marshal(off)
	if !strings.Contains(string(b), `"available":false`) || !strings.Contains(string(b), `"devices":[]`) {
		t.Errorf("off info JSON = %s", b)
	}

	series := buildSeries(1, 3, func(r, _ int, s *results.GPUSample) {
		s.Set(results.GPUMemoryUsed, 1)
		s.Set(results.GPUUtilization, 1)
	})
	b, _ = json.Marshal(Summarize(series, 0, time.Hour, 0))
	for _, k := range []string{`"memory_used_peak_mib":1`, `"utilization_mean_pct":1`, `"energy_j":null`, `"devices":[{"index":0`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("stage JSON lacks %s: %s", k, b)
		}
	}
}
