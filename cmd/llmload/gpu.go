package main

import (
	"time"

	"github.com/llmload/llmload/gpu"
)

// gpuFlags are the GPU sampling flags shared by run and sweep.
type gpuFlags struct {
	mode     string
	interval time.Duration
	indices  []int
}

// check validates the flags; mode "auto" with a simulator becomes "sim".
func (g gpuFlags) check(simulated bool) (gpuFlags, error) {
	switch g.mode {
	case gpu.ModeAuto, gpu.ModeOff, gpu.ModeNVML, gpu.ModeSim:
	default:
		return g, usageErrorf("--gpu must be auto, off, nvml or sim, got %q", g.mode)
	}
	if g.interval <= 0 {
		return g, usageErrorf("--gpu-interval must be positive, got %s", g.interval)
	}
	if g.mode == gpu.ModeSim && !simulated {
		return g, usageErrorf("--gpu sim needs a simulated server (--sim)")
	}
	if g.mode == gpu.ModeAuto && simulated {
		g.mode = gpu.ModeSim // the simulator's GPU is the one the requests load
	}
	return g, nil
}
