package main

import (
	"context"
	"time"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/gpu"
)

// simGPU is what an in-process simulator offers the GPU sampler.
type simGPU interface {
	GPUReading() gpu.SimReading
}

// gpuRun is a GPU sampler for the length of one run.
type gpuRun struct {
	backend gpu.Backend
	sampler *gpu.Sampler
	info    gpu.Info
}

// startGPU opens the backend the --gpu flags ask for and starts sampling on the run's clock.
// A missing GPU is not an error in auto mode: the run goes on and the results say why.
func startGPU(ctx context.Context, mode string, interval time.Duration, indices []int, pid int, sim simGPU, clock time.Time) (*gpuRun, []string, error) {
	switch mode {
	case gpu.ModeAuto, gpu.ModeOff, gpu.ModeNVML, gpu.ModeSim:
	default:
		return nil, nil, usageErrorf("--gpu must be auto, off, nvml or sim, got %q", mode)
	}
	if interval <= 0 {
		return nil, nil, usageErrorf("--gpu-interval must be positive, got %s", interval)
	}
	opts := gpu.Options{Indices: indices, PID: pid}
	if sim != nil {
		opts.Sim = sim.GPUReading
	}
	if mode == gpu.ModeSim && sim == nil {
		return nil, nil, usageErrorf("--gpu sim needs a simulated server (--sim)")
	}
	b, info, err := gpu.Open(mode, opts)
	if err != nil {
		return nil, nil, usageErrorf("--gpu %s: %v", mode, err)
	}
	g := &gpuRun{backend: b, info: info}
	if b != nil && info.Available {
		g.sampler = gpu.Start(context.WithoutCancel(ctx), b, gpu.SamplerConfig{Interval: interval, ClockStart: clock})
	}
	return g, info.Notices, nil
}

// finish stops sampling and puts the series and per-stage summaries into the run.
func (g *gpuRun) finish(run *bench.Run) {
	if g == nil {
		return
	}
	info := g.info
	run.GPU = &info
	if g.sampler == nil {
		if g.backend != nil {
			_ = g.backend.Close()
		}
		return
	}
	series := g.sampler.Stop()
	_ = g.backend.Close()
	run.GPUSeries = &series
	for _, st := range run.Stages {
		from := time.Duration(st.StartS * float64(time.Second))
		to := from + time.Duration(st.WallS*float64(time.Second))
		sum := series.Summarize(from, to, st.OutputTokens)
		st.GPU = &sum
	}
}
