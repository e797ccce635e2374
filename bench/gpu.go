package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/gpu"
)

// GPUSampling samples the GPU for the length of one run, on the run's clock.
type GPUSampling struct {
	backend gpu.Backend
	sampler *gpu.Sampler
	info    results.GPUInfo
}

// StartGPU opens the backend for mode (auto, off, nvml, sim) and starts sampling with clock as
// the origin. A missing GPU is not an error in auto mode: Info then says why.
func StartGPU(ctx context.Context, mode string, opts gpu.Options, interval time.Duration, clock time.Time) (*GPUSampling, error) {
	b, info, err := gpu.Open(mode, opts)
	if err != nil {
		return nil, err
	}
	g := &GPUSampling{backend: b, info: info}
	if b != nil && info.Available {
		// Sampling outlives an interrupt: the grace period's requests still load the GPU.
		g.sampler = gpu.Start(context.WithoutCancel(ctx), b, gpu.SamplerConfig{Interval: interval, ClockStart: clock})
	}
	return g, nil
}

// Notices are the lines a user should see about GPU sampling (why it is off, what the driver
// cannot report).
func (g *GPUSampling) Notices() []string { return g.info.Notices }

// Finish stops sampling and puts the series and a summary per stage into the run.
func (g *GPUSampling) Finish(run *results.Run) {
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
		sum := gpu.Summarize(series, from, to, st.OutputTokens)
		st.GPU = &sum
	}
	othersOnTheGPU(run)
}

// othersOnTheGPU puts other processes' share of the GPU's time during each stage among the
// machine's other work, and makes the run noisy where it reached NoisyOthersGPUPct.
func othersOnTheGPU(run *results.Run) {
	for _, st := range run.Stages {
		if st.GPU == nil || st.GPU.OthersUtilizationMeanPct == nil {
			continue
		}
		if st.Machine == nil {
			st.Machine = &results.MachineLoad{}
		}
		v := results.Round3(*st.GPU.OthersUtilizationMeanPct)
		st.Machine.OthersGPUUtilPct = &v
		if v >= results.NoisyOthersGPUPct {
			run.Noise = append(run.Noise, fmt.Sprintf("noisy: the GPU was busy with other processes during stage %s: their kernels ran %.0f%% of its time (a quiet GPU stays under %d%%)", st.Name, v, results.NoisyOthersGPUPct))
		}
	}
}
