package gpu

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// Field names one reading of a Sample; a set of them is a bit mask.
type Field uint16

// The readings a Sample can hold.
const (
	MemoryUsed    Field = 1 << iota // MiB, NVML v2 semantics (matches nvidia-smi)
	MemoryTotal                     // MiB
	Utilization                     // % of time a kernel ran
	MemoryUtil                      // % of time device memory was read or written
	Power                           // W
	Temperature                     // °C
	SMClock                         // MHz
	Energy                          // J
	ProcessMemory                   // MiB held by Options.PID and its descendants

	numFields = iota
)

// String is the field's JSON name.
func (f Field) String() string {
	switch f {
	case MemoryUsed:
		return "memory_used_mib"
	case MemoryTotal:
		return "memory_total_mib"
	case Utilization:
		return "utilization_pct"
	case MemoryUtil:
		return "memory_util_pct"
	case Power:
		return "power_w"
	case Temperature:
		return "temperature_c"
	case SMClock:
		return "sm_clock_mhz"
	case Energy:
		return "energy_j"
	case ProcessMemory:
		return "process_memory_mib"
	}
	return "fields(" + strconv.Itoa(int(f)) + ")"
}

// Sample is one device's readings at one moment. It holds no pointers, so a long series
// costs the garbage collector nothing to scan.
type Sample struct {
	// At is the time since the Sampler's clock start (the run's start).
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
	EnergyJ          float64 // cumulative since the Sampler's first round
	ProcessMemoryMiB float64
	Valid            Field
}

// Has reports whether the reading f was measured.
func (s *Sample) Has(f Field) bool { return s.Valid&f != 0 }

// Get returns reading f and whether it was measured.
func (s *Sample) Get(f Field) (float64, bool) {
	p := s.field(f)
	if p == nil || !s.Has(f) {
		return 0, false
	}
	return *p, true
}

// Set stores reading f and marks it measured; NaN or ±Inf mark it missing instead.
func (s *Sample) Set(f Field, v float64) {
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

func (s *Sample) field(f Field) *float64 {
	switch f {
	case MemoryUsed:
		return &s.MemoryUsedMiB
	case MemoryTotal:
		return &s.MemoryTotalMiB
	case Utilization:
		return &s.UtilizationPct
	case MemoryUtil:
		return &s.MemoryUtilPct
	case Power:
		return &s.PowerW
	case Temperature:
		return &s.TemperatureC
	case SMClock:
		return &s.SMClockMHz
	case Energy:
		return &s.EnergyJ
	case ProcessMemory:
		return &s.ProcessMemoryMiB
	}
	return nil
}

// MarshalJSON writes {"t_ms": …, "device": …, "memory_used_mib": …, …} with null for a
// reading that was not measured. Durations are milliseconds, as everywhere in results files.
func (s Sample) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, `{"t_ms":`...)
	b = strconv.AppendFloat(b, float64(s.At)/float64(time.Millisecond), 'f', -1, 64)
	b = append(b, `,"device":`...)
	b = strconv.AppendInt(b, int64(s.Device), 10)
	for i := range numFields {
		f := Field(1 << i)
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
func (s *Sample) UnmarshalJSON(data []byte) error {
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
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*s = Sample{At: time.Duration(math.Round(w.TMS * float64(time.Millisecond))), Device: w.Device}
	for f, v := range map[Field]*float64{
		MemoryUsed: w.MemoryUsedMiB, MemoryTotal: w.MemoryTotalMiB, Utilization: w.UtilizationPct,
		MemoryUtil: w.MemoryUtilPct, Power: w.PowerW, Temperature: w.TemperatureC,
		SMClock: w.SMClockMHz, Energy: w.EnergyJ, ProcessMemory: w.ProcessMemoryMiB,
	} {
		if v != nil {
			s.Set(f, *v)
		}
	}
	return nil
}
