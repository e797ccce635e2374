//go:build linux && cgo

package gpu

import (
	"os"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/gpu/internal/cudamem"
)

// TestIntegrationNVML runs against the real driver; it needs an NVIDIA GPU and
// LLMLOAD_NVML_TEST=1. It allocates 1 GiB on CUDA device 0 through libcuda.so.1, loaded at
// run time, and keeps the GPU busy while it samples.
func TestIntegrationNVML(t *testing.T) {
	if os.Getenv("LLMLOAD_NVML_TEST") != "1" {
		t.Skip("set LLMLOAD_NVML_TEST=1 on a machine with an NVIDIA GPU to run")
	}
	b, info, err := Open(ModeNVML, Options{PID: os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	}()
	t.Logf("driver %s, notices %q", info.DriverVersion, info.Notices)
	if len(info.Devices) == 0 {
		t.Fatal("no devices")
	}
	for _, d := range info.Devices {
		t.Logf("device %d: %s %s, %.0f MiB", d.Index, d.Name, d.UUID, d.MemoryTotalMiB)
		if d.MemoryTotalMiB <= 0 {
			t.Errorf("device %d: memory total %v", d.Index, d.MemoryTotalMiB)
		}
	}

	var seen []results.GPUSample
	read := func() []results.GPUSample {
		t.Helper()
		out, err := b.Read(nil)
		if err != nil {
			t.Logf("read: %v", err) // per-reading failures are allowed; they are marked
		}
		seen = append(seen, out...)
		return out
	}
	used := func(out []results.GPUSample) (sum float64) {
		for _, s := range out {
			sum += s.MemoryUsedMiB
		}
		return sum
	}
	before := read()
	const holdMiB = 1024

	t.Run("memory used rises when the test allocates", func(t *testing.T) {
		release, err := cudamem.Hold(0, holdMiB<<20, true)
		if err != nil {
			t.Skipf("cannot allocate GPU memory from this test (%v): memory check skipped", err)
		}
		rose := false
		var during []results.GPUSample
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			during = read()
			if used(during)-used(before) >= 0.9*holdMiB {
				rose = true
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !rose {
			t.Errorf("memory used %.0f MiB → %.0f MiB; want a rise of ~%d MiB", used(before), used(during), holdMiB)
		}

		var proc float64
		measured := false
		for _, s := range during {
			if v, ok := s.Get(results.GPUProcessMemory); ok {
				proc += v
				measured = true
			}
		}
		switch {
		case !measured:
			t.Log("per-process memory not measured (PID namespace or permissions): not checked")
		case proc < 0.9*holdMiB:
			t.Errorf("this process holds %.0f MiB by NVML, want ≥ %.0f", proc, 0.9*holdMiB)
		default:
			t.Logf("this process holds %.0f MiB by NVML", proc)
		}

		// Sample while the GPU is busy, as a run would, and summarize.
		start := time.Now()
		s := Start(t.Context(), b, SamplerConfig{Interval: 50 * time.Millisecond, ClockStart: start})
		time.Sleep(1500 * time.Millisecond)
		series := s.Stop()
		seen = append(seen, series.Samples...)
		sum := Summarize(series, 250*time.Millisecond, 1500*time.Millisecond, 1000)
		t.Logf("busy stage: samples %d, peak %v MiB, util mean %v %% p95 %v %%, power %v W, energy %v J (%s), notices %q",
			sum.Rounds, deref(sum.MemoryUsedPeakMiB), deref(sum.UtilizationMeanPct), deref(sum.UtilizationP95Pct),
			deref(sum.PowerMeanW), deref(sum.EnergyJ), sum.EnergySource, series.Notices)
		if sum.Rounds < 15 {
			t.Errorf("only %d rounds in 1.25 s at 50 ms", sum.Rounds)
		}
		if p := sum.MemoryUsedPeakMiB; p == nil || *p < used(before)+0.9*holdMiB {
			t.Errorf("stage peak %v MiB, want ≥ %.0f", deref(p), used(before)+0.9*holdMiB)
		}
		if e := sum.EnergyJ; e == nil || *e <= 0 {
			t.Errorf("stage energy %v J, want > 0", deref(e))
		}

		if err := release(); err != nil {
			t.Error(err)
		}
	})

	t.Run("readings are plausible", func(t *testing.T) {
		for _, s := range append(seen, read()...) {
			if v, ok := s.Get(results.GPUUtilization); ok && (v < 0 || v > 100) {
				t.Errorf("device %d: utilization %v %%", s.Device, v)
			}
			if v, ok := s.Get(results.GPUMemoryUtil); ok && (v < 0 || v > 100) {
				t.Errorf("device %d: memory utilization %v %%", s.Device, v)
			}
			if v, ok := s.Get(results.GPUPower); ok && (v <= 0 || v >= 2000) {
				t.Errorf("device %d: power %v W", s.Device, v)
			}
			if v, ok := s.Get(results.GPUTemperature); ok && (v <= 0 || v >= 130) {
				t.Errorf("device %d: temperature %v °C", s.Device, v)
			}
			if v, ok := s.Get(results.GPUMemoryUsed); ok && v > s.MemoryTotalMiB {
				t.Errorf("device %d: %v MiB used of %v", s.Device, v, s.MemoryTotalMiB)
			}
		}
		last := seen[len(seen)-1]
		t.Logf("last sample: %+v", last)
		if !last.Has(results.GPUUtilization) || !last.Has(results.GPUPower) {
			t.Errorf("utilization or power not measured: valid %b", last.Valid)
		}
	})
}
