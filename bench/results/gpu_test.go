package results

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestSampleJSON(t *testing.T) {
	var s GPUSample
	s.At = 1500*time.Millisecond + 250*time.Microsecond
	s.Device = 2
	s.Set(GPUMemoryUsed, 2427.5)
	s.Set(GPUUtilization, 0) // a measured zero is not a missing value
	s.Set(GPUPower, 71.25)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"t_ms":1500.25,"device":2,"memory_used_mib":2427.5,"memory_total_mib":null,` +
		`"utilization_pct":0,"memory_util_pct":null,"power_w":71.25,"temperature_c":null,` +
		`"sm_clock_mhz":null,"energy_j":null,"process_memory_mib":null}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back GPUSample
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != s {
		t.Errorf("round trip: %+v, want %+v", back, s)
	}
	// Every field survives a round trip (the names in both directions agree).
	var full GPUSample
	for i := range NumGPUFields {
		full.Set(GPUField(1<<i), float64(i+1))
	}
	b, _ = json.Marshal(full)
	back = GPUSample{}
	if err := json.Unmarshal(b, &back); err != nil || back != full {
		t.Errorf("full round trip: %+v %v", back, err)
	}
	if GPUMemoryUsed.String() != "memory_used_mib" || GPUProcessMemory.String() != "process_memory_mib" {
		t.Errorf("field names %s, %s", GPUMemoryUsed, GPUProcessMemory)
	}
	// NaN is never written: it reads as missing.
	var bad GPUSample
	bad.Set(GPUPower, math.NaN())
	if bad.Has(GPUPower) {
		t.Error("NaN kept as a reading")
	}
}
