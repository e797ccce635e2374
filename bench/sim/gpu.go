package sim

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// GPUSpec describes the simulated GPU.
type GPUSpec struct {
	Name           string  // reported name; "(simulated)" is appended if missing
	MemoryTotalMiB float64 // capacity; models that do not fit are partly offloaded
	BaseMiB        float64 // memory used with nothing loaded
	IdleW, MaxW    float64 // power at 0 % and 100 % utilization
}

// DefaultGPU is an H100-like card.
func DefaultGPU() GPUSpec {
	return GPUSpec{
		Name:           "NVIDIA H100 80GB HBM3 (simulated)",
		MemoryTotalMiB: 81559,
		BaseMiB:        0,
		IdleW:          70,
		MaxW:           700,
	}
}

func (g GPUSpec) validate() error {
	switch {
	case !(g.MemoryTotalMiB > 0) || math.IsInf(g.MemoryTotalMiB, 0):
		return fmt.Errorf("MemoryTotalMiB: must be > 0 (got %v)", g.MemoryTotalMiB)
	case !finiteNonNeg(g.BaseMiB) || g.BaseMiB >= g.MemoryTotalMiB:
		return fmt.Errorf("BaseMiB: must be ≥ 0 and below MemoryTotalMiB (got %v)", g.BaseMiB)
	case !finiteNonNeg(g.IdleW):
		return fmt.Errorf("IdleW: must be ≥ 0 (got %v)", g.IdleW)
	case !finiteNonNeg(g.MaxW) || g.MaxW < g.IdleW:
		return fmt.Errorf("MaxW: must be ≥ IdleW (got %v)", g.MaxW)
	}
	return nil
}

// GPUState is one reading of the simulated GPU, shaped like what the NVML backend reads.
type GPUState struct {
	Name           string  `json:"name"`
	MemoryUsedMiB  float64 `json:"memory_used_mib"`
	MemoryTotalMiB float64 `json:"memory_total_mib"`
	UtilizationPct float64 `json:"utilization_pct"`
	PowerW         float64 `json:"power_w"`
	EnergyJ        float64 `json:"energy_j"` // cumulative since New
}

// utilTracker smooths utilization like NVML's sampled counter does: the level approaches the
// sum of the busy runners' utilization (capped at 100 %) exponentially with time constant tau.
// Energy is the exact integral of the power that follows from it.
type utilTracker struct {
	mu     sync.Mutex
	spec   GPUSpec
	tau    time.Duration
	last   time.Time
	level  float64 // 0..1 at last
	busy   map[*runner]float64
	target float64
	energy float64 // joules up to last
}

func newUtilTracker(spec GPUSpec, speed float64) *utilTracker {
	// NVML averages over ~1/6 s to 1 s; scale with Speed so that a sped-up run looks like a
	// real one sampled proportionally faster.
	tau := time.Duration(float64(250*time.Millisecond) / speed)
	if tau < time.Millisecond {
		tau = time.Millisecond
	}
	return &utilTracker{spec: spec, tau: tau, last: time.Now(), busy: map[*runner]float64{}}
}

// advanceLocked moves the smoothed level and the energy integral to now.
func (u *utilTracker) advanceLocked(now time.Time) {
	dt := now.Sub(u.last).Seconds()
	if dt <= 0 {
		return
	}
	tau := u.tau.Seconds()
	decay := math.Exp(-dt / tau)
	// ∫ level dt for level(t) = target + (level0 − target)·e^(−t/τ).
	integral := u.target*dt + (u.level-u.target)*tau*(1-decay)
	u.energy += u.spec.IdleW*dt + (u.spec.MaxW-u.spec.IdleW)*integral
	u.level = u.target + (u.level-u.target)*decay
	u.last = now
}

// setBusy records whether a runner is decoding; util is its utilization share (0..1).
func (u *utilTracker) setBusy(r *runner, busy bool, util float64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.advanceLocked(time.Now())
	if busy {
		u.busy[r] = util
	} else {
		delete(u.busy, r)
	}
	sum := 0.0
	for _, v := range u.busy {
		sum += v
	}
	u.target = math.Min(1, sum)
}

func (u *utilTracker) read() (utilPct, powerW, energyJ float64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.advanceLocked(time.Now())
	p := u.spec.IdleW + (u.spec.MaxW-u.spec.IdleW)*u.level
	return 100 * u.level, p, u.energy
}
