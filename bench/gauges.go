package bench

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// maxGaugeSamples bounds a run's gauge series (about 80 minutes at 4 readings a second).
const maxGaugeSamples = 20000

// GaugeSampling reads the server's own gauges (GET /metrics: llama-server started with
// --metrics, vLLM) for the length of one run, on the run's clock: the server's view of its queue
// beside the queue wait llmload infers from the requests.
type GaugeSampling struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	out    results.ServerGauges
}

// StartGauges takes a first reading; when the server has no gauges it says why and samples
// nothing. kind is the server's kind from discovery (api.Identity.Kind).
func StartGauges(ctx context.Context, c *api.Client, kind string, interval time.Duration, clock time.Time) *GaugeSampling {
	g := &GaugeSampling{done: make(chan struct{})}
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	first, err := c.Gauges(rctx)
	cancel()
	if err != nil {
		g.out.Reason = "the server exposes no gauges llmload reads (" + err.Error() + ")"
		switch kind {
		case api.ServerOllama:
			g.out.Reason = "Ollama exposes no metrics endpoint: its queue is seen only through the requests"
		case api.ServerLlamaServer:
			g.out.Reason = "llama-server was started without --metrics"
		}
		close(g.done)
		return g
	}
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	g.out = results.ServerGauges{Available: true, Endpoint: "GET /metrics", IntervalMs: float64(interval) / float64(time.Millisecond)}
	g.add(time.Since(clock), first)
	// Sampling outlives an interrupt, as the GPU's does: the grace period's requests still run.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.cancel = cancel
	go func() {
		defer close(g.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(sctx, interval)
			v, err := c.Gauges(rctx)
			rcancel()
			if err == nil && !g.add(time.Since(clock), v) {
				return
			}
		}
	}()
	return g
}

// add keeps one reading; false when the series is full.
func (g *GaugeSampling) add(at time.Duration, v map[string]float64) bool {
	if len(g.out.Samples) >= maxGaugeSamples {
		g.out.Truncated = true
		return false
	}
	g.out.Samples = append(g.out.Samples, results.GaugeSample{T: results.Round3(at.Seconds()), Values: v})
	return true
}

// Finish stops sampling and puts the series, and each gauge's summary per stage, into the run.
func (g *GaugeSampling) Finish(run *results.Run) {
	if g == nil {
		return
	}
	g.once.Do(func() {
		if g.cancel != nil {
			g.cancel()
		}
		<-g.done
	})
	out := g.out
	run.ServerGauges = &out
	for _, st := range run.Stages {
		st.ServerGauges = summarizeGauges(out.Samples, st.StartS, st.StartS+st.WallS)
	}
}

// summarizeGauges summarizes the readings taken from from to to (seconds on the run's clock).
func summarizeGauges(samples []results.GaugeSample, from, to float64) map[string]results.GaugeStats {
	sum := map[string]float64{}
	out := map[string]results.GaugeStats{}
	for _, s := range samples {
		if s.T < from || s.T > to {
			continue
		}
		for name, v := range s.Values {
			st := out[name]
			if st.N == 0 || v > st.Max {
				st.Max = v
			}
			st.N++
			sum[name] += v
			out[name] = st
		}
	}
	if len(out) == 0 {
		return nil
	}
	for name, st := range out {
		st.Mean = results.Round3(sum[name] / float64(st.N))
		if math.IsNaN(st.Mean) {
			st.Mean = 0
		}
		out[name] = st
	}
	return out
}
