package gpu

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

func openFake(t *testing.T, f *fakeNVML, opts Options) *nvmlBackend {
	t.Helper()
	b, _, err := openNVML(f, opts, func(int) (int, error) { return 0, errors.New("no /proc") })
	if err != nil {
		t.Fatalf("openNVML: %v", err)
	}
	return b
}

func readOne(t *testing.T, b Backend) ([]results.GPUSample, error) {
	t.Helper()
	out, err := b.Read(nil)
	if err != nil && strings.Contains(err.Error(), "FATAL") {
		t.Fatalf("a call the driver lacks was made: %v", err)
	}
	if len(out) != len(b.Devices()) {
		t.Fatalf("Read gave %d samples for %d devices", len(out), len(b.Devices()))
	}
	return out, err
}

func TestNVMLReadsAndConverts(t *testing.T) {
	f := newFake(h100(), h100())
	f.devices[1].util = 99
	b, info, err := open(ModeNVML, Options{}, fakeLib(f))
	if err != nil {
		t.Fatal(err)
	}
	if !info.Available || info.Backend != "nvml" || info.Simulated || info.Reason != "" || len(info.Notices) != 0 {
		t.Errorf("info = %+v", info)
	}
	if info.DriverVersion != "580.65.06" {
		t.Errorf("driver version %q", info.DriverVersion)
	}
	want := []results.GPUDevice{
		{Index: 0, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-0", MemoryTotalMiB: 81559},
		{Index: 1, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-1", MemoryTotalMiB: 81559},
	}
	if !slices.Equal(info.Devices, want) {
		t.Errorf("devices = %+v, want %+v", info.Devices, want)
	}
	out, err := readOne(t, b)
	if err != nil {
		t.Fatal(err)
	}
	s := out[0]
	checks := []struct {
		f    results.GPUField
		want float64
	}{
		{results.GPUMemoryUsed, 1000}, {results.GPUMemoryTotal, 81559}, {results.GPUUtilization, 42}, {results.GPUMemoryUtil, 17},
		{results.GPUPower, 123.456}, {results.GPUTemperature, 35}, {results.GPUSMClock, 1980}, {results.GPUEnergy, 5000},
	}
	for _, c := range checks {
		if v, ok := s.Get(c.f); !ok || v != c.want {
			t.Errorf("%v = %v (measured %v), want %v", c.f, v, ok, c.want)
		}
	}
	if s.Has(results.GPUProcessMemory) {
		t.Error("process memory recorded without a PID")
	}
	if out[1].Device != 1 || out[1].UtilizationPct != 99 {
		t.Errorf("second device sample = %+v", out[1])
	}
	if len(f.called("dev0.MemoryInfo")) != 2 || len(f.called("dev0.MemoryInfoV2")) != 2 {
		t.Errorf("want memory v2 only (open + read), got %v", f.called("dev0.Memory"))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

// The first deadly behaviour: after Init fails to load the library, any call kills the
// process. Nothing but Init may be called, in any mode.
func TestNVMLInitFailureCallsNothingElse(t *testing.T) {
	for _, initErr := range []error{errLibraryNotFound, errors.New("NVIDIA driver not loaded")} {
		for _, mode := range []string{ModeAuto, ModeNVML} {
			t.Run(fmt.Sprint(mode, "/", initErr), func(t *testing.T) {
				f := newFake(h100())
				f.initErr = initErr
				b, info, err := open(mode, Options{}, fakeLib(f))
				if !slices.Equal(f.calls, []string{"Init"}) {
					t.Fatalf("calls after a failed Init: %v", f.calls)
				}
				if info.Available || info.Reason == "" || !strings.Contains(info.Reason, initErr.Error()) {
					t.Errorf("info = %+v", info)
				}
				switch mode {
				case ModeAuto:
					if err != nil || b == nil || b.Name() != "off" {
						t.Fatalf("auto: backend %v, err %v; want off, nil", b, err)
					}
					want := []string{"gpu: unavailable: " + info.Reason}
					if !slices.Equal(info.Notices, want) {
						t.Errorf("notices = %q, want %q", info.Notices, want)
					}
					if out, err := b.Read(nil); len(out) != 0 || err != nil {
						t.Errorf("off backend read %v, %v", out, err)
					}
				case ModeNVML:
					if err == nil || b != nil {
						t.Fatalf("nvml: backend %v, err %v; want an error", b, err)
					}
					if !errors.Is(err, initErr) || !strings.HasPrefix(err.Error(), "gpu: unavailable: ") {
						t.Errorf("err = %v", err)
					}
				}
			})
		}
	}
}

// The second deadly behaviour: calling a function the driver lacks. Each optional one is
// looked up first and then never called; its reading is missing and a notice says so.
func TestNVMLMissingSymbolIsNeverCalled(t *testing.T) {
	cases := []struct {
		symbol string
		call   string
		field  results.GPUField
	}{
		{"nvmlDeviceGetTotalEnergyConsumption", "TotalEnergyConsumption", results.GPUEnergy},
		{"nvmlDeviceGetPowerUsage", "PowerUsage", results.GPUPower},
		{"nvmlDeviceGetUtilizationRates", "UtilizationRates", results.GPUUtilization},
		{"nvmlDeviceGetTemperature", "Temperature", results.GPUTemperature},
		{"nvmlDeviceGetClockInfo", "SMClock", results.GPUSMClock},
	}
	for _, c := range cases {
		t.Run(c.symbol, func(t *testing.T) {
			f := newFake(h100())
			f.missing[c.symbol] = true
			b, info, err := open(ModeNVML, Options{}, fakeLib(f))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for range 3 {
				out, err := readOne(t, b)
				if err != nil {
					t.Fatal(err)
				}
				if out[0].Has(c.field) {
					t.Errorf("%v recorded though the driver lacks %s", c.field, c.symbol)
				}
				if !out[0].Has(results.GPUMemoryUsed) {
					t.Error("other readings lost")
				}
			}
			if calls := f.called("dev0." + c.call); len(calls) != 0 {
				t.Errorf("%s called %d times", c.symbol, len(calls))
			}
			if !slices.ContainsFunc(info.Notices, func(n string) bool { return strings.Contains(n, c.symbol) }) {
				t.Errorf("no notice names %s: %q", c.symbol, info.Notices)
			}
		})
	}
}

func TestNVMLMemoryFallsBackToV1(t *testing.T) {
	f := newFake(h100())
	f.missing["nvmlDeviceGetMemoryInfo_v2"] = true
	b, info, err := open(ModeNVML, Options{}, fakeLib(f))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := readOne(t, b)
	if len(f.called("dev0.MemoryInfoV2")) != 0 {
		t.Error("v2 called though missing")
	}
	if out[0].MemoryUsedMiB != 1480 {
		t.Errorf("v1 memory used = %v, want 1480", out[0].MemoryUsedMiB)
	}
	if len(info.Notices) != 1 || !strings.Contains(info.Notices[0], "driver-reserved") {
		t.Errorf("notices = %q", info.Notices)
	}
}

func TestNVMLRequiredSymbolMissing(t *testing.T) {
	for _, sym := range []string{"nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetMemoryInfo"} {
		t.Run(sym, func(t *testing.T) {
			f := newFake(h100())
			f.missing[sym] = true
			f.missing[sym+"_v2"] = true
			b, info, err := open(ModeAuto, Options{}, fakeLib(f))
			if err != nil || b.Name() != "off" || info.Available {
				t.Fatalf("got %v %+v %v, want off", b, info, err)
			}
			if !strings.Contains(info.Reason, sym) {
				t.Errorf("reason %q does not name %s", info.Reason, sym)
			}
			for _, c := range f.calls {
				if strings.HasPrefix(c, "Device") || strings.HasPrefix(c, "dev") {
					t.Errorf("called %s", c)
				}
			}
			if len(f.called("Shutdown")) != 1 {
				t.Errorf("want one Shutdown after a successful Init, calls %v", f.calls)
			}
		})
	}
}

// A failing call marks its reading missing for that round only, says which in the error,
// and the round goes on; NOT_SUPPORTED stops asking.
func TestNVMLPerCallErrors(t *testing.T) {
	d := h100()
	lost := errors.New("GPU is lost")
	d.errs = map[string][]error{
		"PowerUsage":       {nil, lost}, // fails on the second read
		"SMClock":          {nil, errNotSupported},
		"UtilizationRates": {nil, nil, lost},
	}
	f := newFake(d)
	b := openFake(t, f, Options{})
	// read 1: all fine
	if out, err := readOne(t, b); err != nil || !out[0].Has(results.GPUPower) {
		t.Fatalf("read 1: %v %+v", err, out)
	}
	// read 2: power lost, clock not supported
	out, err := readOne(t, b)
	if err == nil || !strings.Contains(err.Error(), "device 0: power: GPU is lost") ||
		!strings.Contains(err.Error(), "device 0: sm clock: not supported") {
		t.Errorf("read 2 error = %v", err)
	}
	if out[0].Has(results.GPUPower) || out[0].Has(results.GPUSMClock) || !out[0].Has(results.GPUUtilization) || !out[0].Has(results.GPUEnergy) {
		t.Errorf("read 2 valid = %b", out[0].Valid)
	}
	// read 3: power back, utilization lost, clock no longer asked
	out, err = readOne(t, b)
	if err == nil || !strings.Contains(err.Error(), "utilization") {
		t.Errorf("read 3 error = %v", err)
	}
	if !out[0].Has(results.GPUPower) || out[0].Has(results.GPUUtilization) || out[0].Has(results.GPUMemoryUtil) {
		t.Errorf("read 3 valid = %b", out[0].Valid)
	}
	if n := len(f.called("dev0.SMClock")); n != 2 {
		t.Errorf("SM clock asked %d times, want 2 (stop after NOT_SUPPORTED)", n)
	}
	// read 4: clean
	if _, err := readOne(t, b); err != nil {
		t.Errorf("read 4: %v", err)
	}
}

// MIG-enabled parents report no memory of their own: missing, not zero, with a notice.
func TestNVMLDeviceWithZeroMemory(t *testing.T) {
	zero := h100()
	zero.usedBytes, zero.totalBytes = 0, 0
	f := newFake(h100(), zero)
	b, info, err := open(ModeNVML, Options{}, fakeLib(f))
	if err != nil {
		t.Fatal(err)
	}
	if info.Devices[1].MemoryTotalMiB != 0 || len(info.Notices) != 1 || !strings.Contains(info.Notices[0], "device 1") {
		t.Errorf("info = %+v", info)
	}
	out, err := readOne(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if out[1].Has(results.GPUMemoryUsed) || out[1].Has(results.GPUMemoryTotal) || !out[1].Has(results.GPUUtilization) {
		t.Errorf("zero-memory device valid = %b", out[1].Valid)
	}
	if !out[0].Has(results.GPUMemoryUsed) {
		t.Error("healthy device lost its memory")
	}
}

func TestNVMLDeviceIndices(t *testing.T) {
	f := newFake(h100(), h100(), h100())
	b, info, err := open(ModeNVML, Options{Indices: []int{2, 0}}, fakeLib(f))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Devices) != 2 || info.Devices[0].Index != 2 || info.Devices[1].Index != 0 {
		t.Errorf("devices = %+v", info.Devices)
	}
	out, _ := readOne(t, b)
	if out[0].Device != 2 || out[1].Device != 0 {
		t.Errorf("samples for devices %d, %d", out[0].Device, out[1].Device)
	}
	if len(f.called("dev1.")) != 0 {
		t.Errorf("unselected device read: %v", f.called("dev1."))
	}

	// An index past the last device is the user's mistake in every mode, not a fallback.
	for _, mode := range []string{ModeAuto, ModeNVML} {
		_, _, err = open(mode, Options{Indices: []int{3}}, fakeLib(newFake(h100())))
		var bad *IndexError
		if !errors.As(err, &bad) {
			t.Errorf("%s: err = %v, want an index error", mode, err)
		}
	}
}

func TestNVMLReadAfterCloseCallsNothing(t *testing.T) {
	f := newFake(h100())
	b := openFake(t, f, Options{})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	n := len(f.calls)
	if _, err := b.Read(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if len(f.calls) != n {
		t.Errorf("calls after Shutdown: %v", f.calls[n:])
	}
}

func TestNVMLProcessMemory(t *testing.T) {
	// 100 is the server; 101 its runner child; 200 someone else.
	parents := map[int]int{100: 1, 101: 100, 200: 1}
	parent := func(pid int) (int, error) {
		if p, ok := parents[pid]; ok {
			return p, nil
		}
		return 0, errors.New("no such process")
	}
	open := func(procs []nvmlProcess, missing ...string) (*fakeNVML, *nvmlBackend, []string) {
		d := h100()
		d.procs = procs
		f := newFake(d)
		for _, m := range missing {
			f.missing[m] = true
		}
		b, notices, err := openNVML(f, Options{PID: 100}, parent)
		if err != nil {
			t.Fatal(err)
		}
		return f, b, notices
	}

	tests := []struct {
		name  string
		procs []nvmlProcess
		want  float64 // -1: missing
	}{
		{"server and child", []nvmlProcess{{100, 10 << 20}, {101, 2000 << 20}, {200, 500 << 20}}, 2010},
		{"child only", []nvmlProcess{{101, 2000 << 20}}, 2000},
		{"others only", []nvmlProcess{{200, 500 << 20}}, 0},
		{"no processes", nil, 0},
		{"memory not available", []nvmlProcess{{101, notAvailable}}, -1},
		{"another PID namespace", []nvmlProcess{{4242, 2000 << 20}}, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, b, _ := open(tc.procs)
			out, err := readOne(t, b)
			if err != nil {
				t.Fatal(err)
			}
			v, ok := out[0].Get(results.GPUProcessMemory)
			if tc.want < 0 {
				if ok {
					t.Errorf("got %v, want missing", v)
				}
				return
			}
			if !ok || v != tc.want {
				t.Errorf("got %v (measured %v), want %v", v, ok, tc.want)
			}
		})
	}

	t.Run("old driver without the function", func(t *testing.T) {
		f, b, notices := open([]nvmlProcess{{100, 1 << 20}},
			"nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2",
			"nvmlDeviceGetComputeRunningProcesses")
		out, _ := readOne(t, b)
		if out[0].Has(results.GPUProcessMemory) || len(f.called("dev0.ComputeProcesses")) != 0 {
			t.Error("process list read though the driver lacks it")
		}
		if len(notices) != 1 || !strings.Contains(notices[0], "per-process") {
			t.Errorf("notices = %q", notices)
		}
	})
	t.Run("older versioned symbol is enough", func(t *testing.T) {
		f, b, _ := open([]nvmlProcess{{100, 1 << 20}}, "nvmlDeviceGetComputeRunningProcesses_v3")
		out, _ := readOne(t, b)
		if !out[0].Has(results.GPUProcessMemory) || len(f.called("dev0.ComputeProcesses")) != 1 {
			t.Error("process memory not read through the v2 symbol")
		}
	})
}

func TestParseParent(t *testing.T) {
	tests := []struct {
		stat string
		want int
		err  bool
	}{
		{"1234 (ollama) S 1000 1234 1234 0 -1", 1000, false},
		{"1234 (a (weird) name) R 77 1 1", 77, false},
		{"1234 (x)", 0, true},
		{"garbage", 0, true},
	}
	for _, tc := range tests {
		got, err := parseParent([]byte(tc.stat))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseParent(%q) = %d, %v", tc.stat, got, err)
		}
	}
}

func TestProcParent(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	got, err := procParent(os.Getpid())
	if err != nil || got != os.Getppid() {
		t.Errorf("procParent(self) = %d, %v; want %d", got, err, os.Getppid())
	}
	if _, err := procParent(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}

// What other processes (not the server's tree) hold and use of the GPU: their memory from the
// process list, their share of its time from NVML's per-process samples since the last
// reading; nothing when the server's process is unknown, when the driver cannot tell, or in
// another PID namespace.
func TestNVMLOthersUseOfTheGPU(t *testing.T) {
	parents := map[int]int{100: 1, 101: 100, 200: 1, 300: 1}
	parent := func(pid int) (int, error) {
		if p, ok := parents[pid]; ok {
			return p, nil
		}
		return 0, errors.New("no such process")
	}
	open := func(pid int, d *fakeDevice, missing ...string) (*fakeNVML, *nvmlBackend, []string) {
		f := newFake(d)
		for _, m := range missing {
			f.missing[m] = true
		}
		b, notices, err := openNVML(f, Options{PID: pid}, parent)
		if err != nil {
			t.Fatal(err)
		}
		return f, b, notices
	}
	get := func(s results.GPUSample, f results.GPUField) float64 {
		if v, ok := s.Get(f); ok {
			return v
		}
		return -1
	}

	d := h100()
	d.procs = []nvmlProcess{{100, 10 << 20}, {101, 2000 << 20}, {200, 500 << 20}, {300, 250 << 20}}
	// The server's runner (101) busy, a game (200) at 30 % then 50 %, a compositor (300) at 4 %.
	d.utils = []nvmlProcessUtil{{101, 10, 80}, {200, 10, 30}, {200, 20, 50}, {300, 15, 4}}
	f, b, _ := open(100, d)
	out, err := readOne(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if m, u := get(out[0], results.GPUOthersMemory), get(out[0], results.GPUOthersUtil); m != 750 || u != 54 {
		t.Errorf("others: %v MiB, %v %%; want 750 and 50 + 4", m, u)
	}
	// Nothing newer since: no process ran a kernel, 0 %, and the next call asks after the
	// newest sample seen.
	out, err = readOne(t, b)
	if err != nil || get(out[0], results.GPUOthersUtil) != 0 {
		t.Errorf("no new samples: %v %% (%v), want 0", get(out[0], results.GPUOthersUtil), err)
	}
	if n := len(f.called("dev0.ProcessUtilization")); n != 2 {
		t.Errorf("%d utilization calls, want 2", n)
	}

	// Without the server's process nothing tells the server from the others: not asked.
	f, b, _ = open(0, d)
	out, _ = readOne(t, b)
	if out[0].Has(results.GPUOthersUtil) || out[0].Has(results.GPUOthersMemory) || len(f.called("dev0.ProcessUtilization")) != 0 {
		t.Error("others' use recorded without the server's process")
	}
	// A driver without the function: never called, and a notice says so.
	f, b, notices := open(100, d, "nvmlDeviceGetProcessUtilization")
	out, _ = readOne(t, b)
	if out[0].Has(results.GPUOthersUtil) || len(f.called("dev0.ProcessUtilization")) != 0 || !strings.Contains(strings.Join(notices, "\n"), "other processes' use of the GPU not recorded") {
		t.Errorf("driver without nvmlDeviceGetProcessUtilization: notices %q", notices)
	}
	// Another PID namespace: every PID unknown here, nothing recorded.
	ns := h100()
	ns.procs, ns.utils = []nvmlProcess{{4242, 2000 << 20}}, []nvmlProcessUtil{{4242, 10, 90}}
	_, b, _ = open(100, ns)
	out, _ = readOne(t, b)
	if out[0].Has(results.GPUOthersUtil) || out[0].Has(results.GPUOthersMemory) {
		t.Errorf("another PID namespace: %+v", out[0])
	}
}
