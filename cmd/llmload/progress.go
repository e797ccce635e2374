package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report/printable"
)

// progress shows a run's progress: a bar on a terminal, a plain status line every 10 s
// otherwise (CI logs), nothing when quiet.
type progress struct {
	s     *streams
	plan  *results.Plan
	live  *bench.Live
	off   bool
	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	stop  chan struct{}
	done  chan struct{}
	index int
	every time.Duration // plain status lines, when stderr is not a terminal
}

const statusEvery = 10 * time.Second

func newProgress(s *streams, plan *results.Plan, live *bench.Live, off bool) *progress {
	return startProgress(s, plan, live, off, statusEvery)
}

func startProgress(s *streams, plan *results.Plan, live *bench.Live, off bool, every time.Duration) *progress {
	p := &progress{s: s, plan: plan, live: live, off: off, index: -1, every: every}
	if off {
		return p
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go p.loop()
	return p
}

// stage is called as each stage starts.
func (p *progress) stage(i int, st results.Stage) {
	if p.off {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishBarLocked()
	p.index = i
	desc := fmt.Sprintf("stage %d/%d %s", i+1, len(p.plan.Stages), printable.Line(st.Name))
	if !p.s.errTerminal {
		fmt.Fprintf(p.s.err, "%s: started\n", desc)
		return
	}
	max := int64(st.Requests)
	if max == 0 {
		max = -1 // a spinner: the stage is bounded by time
	}
	p.bar = progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(p.s.err),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(24),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetPredictTime(st.Requests > 0),
		progressbar.OptionClearOnFinish(),
	)
}

func (p *progress) loop() {
	defer close(p.done)
	tick := time.NewTicker(min(250*time.Millisecond, p.every))
	defer tick.Stop()
	lastStatus := time.Now()
	var lastDone int64
	lastAt := time.Now()
	for {
		select {
		case <-p.stop:
			return
		case now := <-tick.C:
			p.mu.Lock()
			done := p.live.Done.Load()
			stageStart := time.Unix(0, p.live.StageStart.Load())
			elapsed := now.Sub(stageStart).Seconds()
			rps, tps := 0.0, 0.0
			if elapsed > 0 {
				rps = float64(done) / elapsed
				tps = float64(p.live.Tokens.Load()) / elapsed
			}
			detail := fmt.Sprintf("in flight %d · %.1f req/s · %.0f tok/s · errors %d",
				p.live.InFlight.Load(), rps, tps, p.live.Errors.Load())
			if p.index < 0 {
				detail = fmt.Sprintf("warm-up: %d requests in flight (loads the model)", p.live.InFlight.Load())
			}
			if p.bar != nil {
				_ = p.bar.Set64(done)
				p.bar.Describe(fmt.Sprintf("stage %d/%d %s · %s", p.index+1, len(p.plan.Stages), printable.Line(p.plan.Stages[p.index].Name), detail))
			} else if !p.s.errTerminal && now.Sub(lastStatus) >= p.every {
				name := "warm-up"
				if p.index >= 0 {
					name = fmt.Sprintf("stage %d/%d %s", p.index+1, len(p.plan.Stages), printable.Line(p.plan.Stages[p.index].Name))
				}
				if done < lastDone { // a new stage reset the counter
					lastDone = 0
				}
				recent := float64(done-lastDone) / now.Sub(lastAt).Seconds()
				fmt.Fprintf(p.s.err, "%s: %d done · %s · last 10s %.1f req/s\n", name, done, detail, recent)
				lastStatus, lastDone, lastAt = now, done, now
			}
			p.mu.Unlock()
		}
	}
}

func (p *progress) finishBarLocked() {
	if p.bar != nil {
		_ = p.bar.Finish()
		_ = p.bar.Clear()
		p.bar = nil
	}
}

// finish stops the display and clears the bar before the summary prints.
func (p *progress) finish() {
	if p.off {
		return
	}
	close(p.stop)
	<-p.done
	p.mu.Lock()
	p.finishBarLocked()
	p.mu.Unlock()
}
