package main

import (
	"context"
	"errors"
	"time"

	"github.com/llmload/llmload/bench"
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

// start begins sampling; sim reads the simulator's GPU (nil for a real server), pid is the
// server's process when llmload started it.
func (g gpuFlags) start(ctx context.Context, sim func() gpu.SimReading, pid int, clock time.Time) (*bench.GPUSampling, error) {
	opts := gpu.Options{Indices: g.indices, PID: pid, Sim: sim}
	s, err := bench.StartGPU(ctx, g.mode, opts, g.interval, clock)
	var ie *gpu.IndexError
	switch {
	case errors.As(err, &ie): // the library names the device; the user gave it as a flag
		return nil, usageErrorf("--gpu-index %d: %s", ie.Index, ie.Reason)
	case err != nil:
		return nil, usageErrorf("--gpu %s: %v", g.mode, err)
	}
	return s, nil
}
