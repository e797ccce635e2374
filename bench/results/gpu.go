package results

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// GPUDevice describes one sampled GPU.
type GPUDevice struct {
	// Index is the NVML index (the order of nvidia-smi), not a position in a list.
	Index          int     `json:"index"`
	Name           string  `json:"name"`
	UUID           string  `json:"uuid,omitempty"`
	MemoryTotalMiB float64 `json:"memory_total_mib"`
}

// GPUInfo is what a results file stores about GPU sampling for one run.
type GPUInfo struct {
	Available bool `json:"available"`
	// Reason says why sampling is unavailable; empty when available.
	Reason string `json:"reason"`
	// Backend is "nvml", "sim" or "off".
	Backend   string `json:"backend"`
	Simulated bool   `json:"simulated"`
	// DriverVersion is the NVIDIA driver's version, when NVML gave it.
	DriverVersion string      `json:"driver_version,omitempty"`
	Devices       []GPUDevice `json:"devices"`
	// Notices are lines for the user: why sampling is off in auto mode, or which
	// readings this driver cannot give.
	Notices []string `json:"notices,omitempty"`
}

// GPUField names one reading of a GPUSample; a set of them is a bit mask.
type GPUField uint16

// The readings a GPUSample can hold.
const (
	GPUMemoryUsed    GPUField = 1 << iota // MiB, NVML v2 semantics (matches nvidia-smi)
	GPUMemoryTotal                        // MiB
	GPUUtilization                        // % of time a kernel ran
	GPUMemoryUtil                         // % of time device memory was read or written
	GPUPower                              // W
	GPUTemperature                        // °C
	GPUSMClock                            // MHz
	GPUEnergy                             // J
	GPUProcessMemory                      // MiB held by the server's process and its descendants
	GPUOthersMemory                       // MiB held by other processes (not the server's tree)
	GPUOthersUtil                         // % of the GPU's time other processes' kernels ran (NVML's per-process SM utilization, summed)

	// NumGPUFields is the number of readings: GPUField(1 << i) for i below it names each.
	NumGPUFields = iota
)

// String is the field's JSON name.
func (f GPUField) String() string {
	switch f {
	case GPUMemoryUsed:
		return "memory_used_mib"
	case GPUMemoryTotal:
		return "memory_total_mib"
	case GPUUtilization:
		return "utilization_pct"
	case GPUMemoryUtil:
		return "memory_util_pct"
	case GPUPower:
		return "power_w"
	case GPUTemperature:
		return "temperature_c"
	case GPUSMClock:
		return "sm_clock_mhz"
	case GPUEnergy:
		return "energy_j"
	case GPUProcessMemory:
		return "process_memory_mib"
	case GPUOthersMemory:
		return "others_memory_mib"
	case GPUOthersUtil:
		return "others_util_pct"
	}
	return "fields(" + strconv.Itoa(int(f)) + ")"
}

// GPUSample is one device's readings at one moment. It holds no pointers, so a long series
// costs the garbage collector nothing to scan.
type GPUSample struct {
	// At is the time since the run's start.
	At     time.Duration
	Device int // NVML index
	// Readings; only those in Valid were measured, so a missing value never reads as 0.
	MemoryUsedMiB    float64
	MemoryTotalMiB   float64
	UtilizationPct   float64
	MemoryUtilPct    float64
	PowerW           float64
	TemperatureC     float64
	SMClockMHz       float64
	EnergyJ          float64 // cumulative since the series' first round
	ProcessMemoryMiB float64
	OthersMemoryMiB  float64
	OthersUtilPct    float64
	Valid            GPUField
}

// Has reports whether the reading f was measured.
func (s *GPUSample) Has(f GPUField) bool { return s.Valid&f != 0 }

// Get returns reading f and whether it was measured.
func (s *GPUSample) Get(f GPUField) (float64, bool) {
	p := s.field(f)
	if p == nil || !s.Has(f) {
		return 0, false
	}
	return *p, true
}

// Set stores reading f and marks it measured; NaN or ±Inf mark it missing instead.
func (s *GPUSample) Set(f GPUField, v float64) {
	p := s.field(f)
	if p == nil {
		return
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		*p = 0
		s.Valid &^= f
		return
	}
	*p = v
	s.Valid |= f
}

func (s *GPUSample) field(f GPUField) *float64 {
	switch f {
	case GPUMemoryUsed:
		return &s.MemoryUsedMiB
	case GPUMemoryTotal:
		return &s.MemoryTotalMiB
	case GPUUtilization:
		return &s.UtilizationPct
	case GPUMemoryUtil:
		return &s.MemoryUtilPct
	case GPUPower:
		return &s.PowerW
	case GPUTemperature:
		return &s.TemperatureC
	case GPUSMClock:
		return &s.SMClockMHz
	case GPUEnergy:
		return &s.EnergyJ
	case GPUProcessMemory:
		return &s.ProcessMemoryMiB
	case GPUOthersMemory:
		return &s.OthersMemoryMiB
	case GPUOthersUtil:
		return &s.OthersUtilPct
	}
	return nil
}

// optionalGPUFields are written only when measured: others' use of the GPU, which most
// samples lack (no per-process figures, or no server process known).
const optionalGPUFields = GPUOthersMemory | GPUOthersUtil

// MarshalJSON writes {"t_ms": …, "device": …, "memory_used_mib": …, …} with null for a
// reading that was not measured (others' use of the GPU is left out instead). Durations are milliseconds, as everywhere in results files.
func (s GPUSample) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, `{"t_ms":`...)
	b = strconv.AppendFloat(b, float64(s.At)/float64(time.Millisecond), 'f', -1, 64)
	b = append(b, `,"device":`...)
	b = strconv.AppendInt(b, int64(s.Device), 10)
	for i := range NumGPUFields {
		f := GPUField(1 << i)
		if f&optionalGPUFields != 0 && !s.Has(f) {
			continue // added later: absent rather than null, as in older files
		}
		b = append(b, `,"`...)
		b = append(b, f.String()...)
		b = append(b, `":`...)
		if v, ok := s.Get(f); ok {
			b = strconv.AppendFloat(b, v, 'f', -1, 64)
		} else {
			b = append(b, "null"...)
		}
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes; an absent or null reading is missing.
func (s *GPUSample) UnmarshalJSON(data []byte) error {
	var w struct {
		TMS              float64  `json:"t_ms"`
		Device           int      `json:"device"`
		MemoryUsedMiB    *float64 `json:"memory_used_mib"`
		MemoryTotalMiB   *float64 `json:"memory_total_mib"`
		UtilizationPct   *float64 `json:"utilization_pct"`
		MemoryUtilPct    *float64 `json:"memory_util_pct"`
		PowerW           *float64 `json:"power_w"`
		TemperatureC     *float64 `json:"temperature_c"`
		SMClockMHz       *float64 `json:"sm_clock_mhz"`
		EnergyJ          *float64 `json:"energy_j"`
		ProcessMemoryMiB *float64 `json:"process_memory_mib"`
		OthersMemoryMiB  *float64 `json:"others_memory_mib"`
		OthersUtilPct    *float64 `json:"others_util_pct"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*s = GPUSample{At: time.Duration(math.Round(w.TMS * float64(time.Millisecond))), Device: w.Device}
	for f, v := range map[GPUField]*float64{
		GPUMemoryUsed: w.MemoryUsedMiB, GPUMemoryTotal: w.MemoryTotalMiB, GPUUtilization: w.UtilizationPct,
		GPUMemoryUtil: w.MemoryUtilPct, GPUPower: w.PowerW, GPUTemperature: w.TemperatureC,
		GPUSMClock: w.SMClockMHz, GPUEnergy: w.EnergyJ, GPUProcessMemory: w.ProcessMemoryMiB,
		GPUOthersMemory: w.OthersMemoryMiB, GPUOthersUtil: w.OthersUtilPct,
	} {
		if v != nil {
			s.Set(f, *v)
		}
	}
	return nil
}

// GPUSeries is a run's GPU time series: one GPUSample per device per round, rounds in time
// order, devices in Devices order within a round.
type GPUSeries struct {
	IntervalMS float64     `json:"interval_ms"`
	Devices    []GPUDevice `json:"devices"`
	// RoundsPerSample is 1 until the series outgrew the sampler's bound on samples; then
	// each sample (but the first, kept as the origin) merges up to that many rounds: memory
	// and temperature are their maximum (peaks survive), the other gauges their mean, At
	// and the energy counter those of the last round.
	RoundsPerSample int         `json:"rounds_per_sample"`
	Samples         []GPUSample `json:"samples"`
	// EnergyCounterResets counts intervals in which a device's energy counter went
	// backwards or jumped implausibly (a driver reload, a wrap); their energy is estimated
	// from power instead.
	EnergyCounterResets int `json:"energy_counter_resets,omitempty"`
	// Notices are failed readings, one line per distinct error, with how often.
	Notices []string `json:"notices,omitempty"`
}

// Energy sources of a GPUStats.
const (
	// GPUEnergyFromCounter: the difference of the devices' energy counters.
	GPUEnergyFromCounter = "counter"
	// GPUEnergyFromPower: power integrated over time (the driver has no energy counter).
	GPUEnergyFromPower = "power"
	// GPUEnergyMixed: counters for some devices, power for others.
	GPUEnergyMixed = "mixed"
)

// GPUStats summarizes GPU readings over one stage. A null (nil) value was not measured.
type GPUStats struct {
	// Rounds is the number of sampling rounds inside the stage.
	Rounds              int      `json:"rounds"`
	MemoryUsedPeakMiB   *float64 `json:"memory_used_peak_mib"`
	MemoryUsedMeanMiB   *float64 `json:"memory_used_mean_mib"`
	MemoryUsedBeforeMiB *float64 `json:"memory_used_before_mib"` // latest round before the stage
	MemoryTotalMiB      *float64 `json:"memory_total_mib"`
	UtilizationMeanPct  *float64 `json:"utilization_mean_pct"`
	UtilizationP95Pct   *float64 `json:"utilization_p95_pct"`
	MemoryUtilMeanPct   *float64 `json:"memory_util_mean_pct"`
	PowerMeanW          *float64 `json:"power_mean_w"`
	TemperatureMaxC     *float64 `json:"temperature_max_c"`
	SMClockMeanMHz      *float64 `json:"sm_clock_mean_mhz"`
	// ProcessMemoryPeakMiB is the peak held by the server's process and its descendants.
	ProcessMemoryPeakMiB *float64 `json:"process_memory_peak_mib"`
	// OthersMemoryPeakMiB and OthersUtilizationMeanPct are what other processes (not the
	// server's tree) held and used of the GPU: the GPU's share of a busy machine. Absent when
	// the driver cannot say per process, or the server's process is not known.
	OthersMemoryPeakMiB      *float64 `json:"others_memory_peak_mib,omitempty"`
	OthersUtilizationMeanPct *float64 `json:"others_utilization_mean_pct,omitempty"`
	EnergyJ                  *float64 `json:"energy_j"`
	// EnergySource says how EnergyJ was found: "counter", "power" or "mixed".
	EnergySource         string   `json:"energy_source,omitempty"`
	JoulesPerOutputToken *float64 `json:"joules_per_output_token"`
}

// GPUStageSummary is a stage's GPU summary. Its top-level figures are for all sampled devices
// together: memory, power, energy and process memory are sums over devices, utilization and
// clocks their mean, temperature their maximum — computed per round, then over the stage.
// With one GPU they equal Devices[0]'s.
type GPUStageSummary struct {
	GPUStats
	Devices []GPUDeviceStats `json:"devices,omitempty"`
}

// GPUDeviceStats is one device's share of a GPUStageSummary.
type GPUDeviceStats struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	GPUStats
}
