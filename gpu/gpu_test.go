package gpu

import (
	"errors"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmload/llmload/bench/results"
)

func simReading() SimReading {
	return SimReading{Name: "sim-80GB", MemoryUsedMiB: 2427, MemoryTotalMiB: 81559, UtilizationPct: 73, PowerW: 310, EnergyJ: 1000}
}

func TestOpenModes(t *testing.T) {
	noDriver := func() (nvmlLib, error) {
		f := newFake()
		f.initErr = errLibraryNotFound
		return f, nil
	}
	notBuilt := func() (nvmlLib, error) { return nil, errors.New("built without NVML support") }
	tests := []struct {
		name       string
		mode       string
		opts       Options
		lib        func() (nvmlLib, error)
		backend    string // "" when Open fails
		simulated  bool
		notice     string
		errContain string
	}{
		{name: "off", mode: ModeOff, lib: noDriver, backend: "off"},
		{name: "auto without driver", mode: ModeAuto, lib: noDriver, backend: "off",
			notice: "gpu: unavailable: no NVIDIA driver (libnvidia-ml.so.1 not found)"},
		{name: "auto without cgo", mode: ModeAuto, lib: notBuilt, backend: "off",
			notice: "gpu: unavailable: built without NVML support"},
		{name: "auto with driver", mode: ModeAuto, lib: fakeLib(newFake(h100())), backend: "nvml"},
		{name: "auto against the simulator", mode: ModeAuto, opts: Options{Sim: simReading},
			lib: fakeLib(newFake(h100())), backend: "sim", simulated: true},
		{name: "nvml without driver", mode: ModeNVML, lib: noDriver,
			errContain: "gpu: unavailable: no NVIDIA driver"},
		{name: "nvml without cgo", mode: ModeNVML, lib: notBuilt,
			errContain: "gpu: unavailable: built without NVML support"},
		{name: "sim", mode: ModeSim, opts: Options{Sim: simReading}, lib: noDriver, backend: "sim", simulated: true},
		{name: "sim without simulator", mode: ModeSim, lib: noDriver, errContain: "needs the simulator"},
		{name: "sim, second device", mode: ModeSim, opts: Options{Sim: simReading, Indices: []int{1}},
			lib: noDriver, errContain: "only 1 device"},
		{name: "bad mode", mode: "cuda", lib: noDriver, errContain: `unknown mode "cuda"`},
		{name: "negative index", mode: ModeAuto, opts: Options{Indices: []int{-1}}, lib: noDriver,
			errContain: "must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, info, err := open(tc.mode, tc.opts, tc.lib)
			if tc.errContain != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errContain) {
					t.Fatalf("err = %v, want %q", err, tc.errContain)
				}
				if b != nil || info.Available || info.Reason == "" {
					t.Errorf("failed open gave backend %v, info %+v", b, info)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if b.Name() != tc.backend || info.Backend != tc.backend || info.Simulated != tc.simulated {
				t.Errorf("backend %s, info %+v; want %s", b.Name(), info, tc.backend)
			}
			if info.Available != (tc.backend != "off") {
				t.Errorf("available = %v", info.Available)
			}
			var notices []string
			if tc.notice != "" {
				notices = []string{tc.notice}
			}
			if !slices.Equal(info.Notices, notices) {
				t.Errorf("notices = %q, want %q", info.Notices, notices)
			}
		})
	}
}

func TestSimBackend(t *testing.T) {
	r := simReading()
	r.PowerW = math.NaN() // a simulator that does not model power
	b := NewSim(func() SimReading { return r })
	want := []results.GPUDevice{{Index: 0, Name: "sim-80GB", MemoryTotalMiB: 81559}}
	if !slices.Equal(b.Devices(), want) {
		t.Errorf("devices = %+v", b.Devices())
	}
	out, err := b.Read(nil)
	if err != nil || len(out) != 1 {
		t.Fatal(out, err)
	}
	s := out[0]
	if s.MemoryUsedMiB != 2427 || s.UtilizationPct != 73 || !s.Has(results.GPUEnergy) {
		t.Errorf("sample = %+v", s)
	}
	if s.Has(results.GPUPower) || s.Has(results.GPUTemperature) || s.Has(results.GPUSMClock) || s.Has(results.GPUProcessMemory) {
		t.Errorf("readings the simulator does not give are marked measured: %b", s.Valid)
	}
	if name := NewSim(func() SimReading { return SimReading{} }).Devices()[0].Name; name != "simulated GPU" {
		t.Errorf("default name %q", name)
	}
}

// The simulator's readings flow through a whole sampled run into a stage summary.
func TestSimThroughSampler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var energy atomic.Int64 // J; the simulator adds 300 J per second
		start := time.Now()
		sim := func() SimReading {
			r := simReading()
			r.EnergyJ = float64(energy.Load())
			return r
		}
		b, info, err := Open(ModeAuto, Options{Sim: sim})
		if err != nil || !info.Simulated {
			t.Fatal(info, err)
		}
		s := Start(t.Context(), b, SamplerConfig{Interval: 100 * time.Millisecond, ClockStart: start})
		time.Sleep(50 * time.Millisecond) // off the ticks, so no round races a step
		for range 10 {
			time.Sleep(time.Second)
			energy.Add(300)
		}
		series := s.Stop()
		// The counter steps at 1.05 s, 2.05 s, …: eight steps between 1 s and 9 s.
		sum := Summarize(series, time.Second, 9*time.Second, 2400)
		val(t, "energy", sum.EnergyJ, 2400)
		val(t, "J/token", sum.JoulesPerOutputToken, 1)
		val(t, "memory", sum.MemoryUsedPeakMiB, 2427)
	})
}

func TestOpenAutoOnThisMachine(t *testing.T) {
	b, info, err := Open(ModeAuto, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !info.Available {
		if len(info.Notices) != 1 || !strings.HasPrefix(info.Notices[0], "gpu: unavailable: ") {
			t.Errorf("notices = %q", info.Notices)
		}
		t.Logf("no GPU here: %s", info.Notices[0])
		if _, err := b.Read(nil); err != nil {
			t.Error(err)
		}
		return
	}
	out, err := b.Read(nil)
	t.Logf("GPU here: %+v, first read %+v (err %v)", info, out, err)
}
