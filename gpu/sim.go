package gpu

import (
	"cmp"
	"math"

	"github.com/llmload/llmload/bench/results"
)

// SimReading is what the simulated server says about its pretend GPU. A field it does not
// model is NaN; Read then marks that reading missing. EnergyJ is a cumulative counter from
// any origin (the Sampler takes differences), not energy per interval.
type SimReading struct {
	Name           string
	MemoryUsedMiB  float64
	MemoryTotalMiB float64
	UtilizationPct float64
	PowerW         float64
	EnergyJ        float64
}

// simBackend samples one simulated device through a function the simulator provides, so
// this package need not import the simulator.
type simBackend struct {
	read func() SimReading
}

// NewSim returns a backend of one simulated device, device 0, read through read. read is
// called from the sampling goroutine and must be safe for that.
func NewSim(read func() SimReading) Backend {
	return simBackend{read: read}
}

func (b simBackend) Name() string { return ModeSim }

func (b simBackend) Devices() []results.GPUDevice {
	r := b.read()
	d := results.GPUDevice{Index: 0, Name: cmp.Or(r.Name, "simulated GPU")}
	if !math.IsNaN(r.MemoryTotalMiB) {
		d.MemoryTotalMiB = r.MemoryTotalMiB
	}
	return []results.GPUDevice{d}
}

func (b simBackend) Read(dst []results.GPUSample) ([]results.GPUSample, error) {
	r := b.read()
	var s results.GPUSample
	s.Set(results.GPUMemoryUsed, r.MemoryUsedMiB)
	s.Set(results.GPUMemoryTotal, r.MemoryTotalMiB)
	s.Set(results.GPUUtilization, r.UtilizationPct)
	s.Set(results.GPUPower, r.PowerW)
	s.Set(results.GPUEnergy, r.EnergyJ)
	return append(dst, s), nil
}

func (b simBackend) Close() error { return nil }
