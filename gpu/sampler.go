package gpu

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/llmload/llmload/bench/results"
)

// DefaultMaxSamples bounds a GPUSeries: 131072 samples of 96 bytes, 12 MiB. At 250 ms on one
// GPU that is 9 hours before the Sampler starts merging rounds.
const DefaultMaxSamples = 1 << 17

// maxPlausibleW is the most one device can draw. An energy counter step above it (or below
// zero) is a reset or a wrap, not energy: that interval is then estimated from power.
const maxPlausibleW = 10000

// maxNotices bounds the distinct error messages a GPUSeries keeps.
const maxNotices = 32

// SamplerConfig sets how a Sampler samples.
type SamplerConfig struct {
	// Interval between rounds; 0 means DefaultInterval.
	Interval time.Duration
	// ClockStart is the run's start: every GPUSample.At is measured from it, so GPU samples
	// line up with request timestamps. The zero time means the Sampler's start.
	ClockStart time.Time
	// MaxSamples bounds memory for long runs; 0 means DefaultMaxSamples. When a round would
	// pass it, adjacent rounds are merged pairwise (see GPUSeries.RoundsPerSample).
	MaxSamples int
}

// Sampler reads a Backend on a ticker in one goroutine until its context ends or Stop.
type Sampler struct {
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	series results.GPUSeries // owned by the goroutine until done is closed
}

// Start takes a first sample at once, then one per interval, until ctx ends or Stop is
// called; it takes a last sample then, so the series covers the whole run. The backend is
// not closed: its owner closes it after Stop. A backend without devices starts no goroutine.
func Start(ctx context.Context, b Backend, cfg SamplerConfig) *Sampler {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.ClockStart.IsZero() {
		cfg.ClockStart = time.Now()
	}
	var devices []results.GPUDevice
	if b != nil {
		devices = b.Devices()
	}
	if cfg.MaxSamples <= 0 {
		cfg.MaxSamples = DefaultMaxSamples
	}
	// Room for at least three rounds, so that merging always frees one.
	cfg.MaxSamples = max(cfg.MaxSamples, 3*len(devices))

	s := &Sampler{done: make(chan struct{})}
	s.series = results.GPUSeries{
		IntervalMS:      float64(cfg.Interval) / float64(time.Millisecond),
		Devices:         devices,
		RoundsPerSample: 1,
	}
	if len(devices) == 0 {
		s.cancel = func() {}
		close(s.done)
		return s
	}
	ctx, s.cancel = context.WithCancel(ctx)
	r := newRecorder(b, cfg, &s.series)
	go func() {
		defer close(s.done)
		r.run(ctx)
	}()
	return s
}

// Stop ends sampling, waits for the goroutine, and returns the series. It may be called
// more than once and after the context ended; each call returns the same series.
func (s *Sampler) Stop() results.GPUSeries {
	s.once.Do(s.cancel)
	<-s.done
	return s.series
}

// recorder is the sampling goroutine's state.
type recorder struct {
	b          Backend
	cfg        SamplerConfig
	series     *results.GPUSeries
	nd         int
	energy     []energyTracker
	errCounts  map[string]int
	errOrder   []string
	errDropped int
	rounds     int
}

func newRecorder(b Backend, cfg SamplerConfig, series *results.GPUSeries) *recorder {
	nd := len(series.Devices)
	// A first slice for about four minutes at 250 ms; append grows it from there.
	series.Samples = make([]results.GPUSample, 0, min(cfg.MaxSamples, 1024*nd))
	return &recorder{
		b: b, cfg: cfg, series: series, nd: nd,
		energy:    make([]energyTracker, nd),
		errCounts: map[string]int{},
	}
}

func (r *recorder) run(ctx context.Context) {
	defer r.finish()
	if !r.round() {
		return
	}
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.round()
			return
		case <-t.C:
			if !r.round() {
				return
			}
		}
	}
}

// round reads every device once and appends the samples. It reports false once the backend
// is closed: nothing more can be read.
func (r *recorder) round() bool {
	if len(r.series.Samples)+r.nd > r.cfg.MaxSamples {
		r.series.Samples = mergeRounds(r.series.Samples, r.nd)
		r.series.RoundsPerSample *= 2
	}
	n0 := len(r.series.Samples)
	t0 := time.Since(r.cfg.ClockStart)
	samples, err := r.b.Read(r.series.Samples)
	at := (t0 + time.Since(r.cfg.ClockStart)) / 2
	if errors.Is(err, ErrClosed) {
		r.tally(errors.New("gpu: backend closed while sampling: sampling ended early"))
		r.series.Samples = samples[:n0]
		return false
	}
	r.rounds++
	if err != nil {
		r.tally(err)
	}
	if len(samples)-n0 != r.nd {
		r.tally(fmt.Errorf("gpu: backend gave %d samples for %d devices", len(samples)-n0, r.nd))
		r.series.Samples = samples[:n0]
		return true
	}
	for i := range samples[n0:] {
		s := &samples[n0+i]
		s.At = at
		s.Device = r.series.Devices[i].Index
		if r.energy[i].add(s) {
			r.series.EnergyCounterResets++
		}
	}
	r.series.Samples = samples
	return true
}

// tally counts an error per distinct message; a joined error counts each part.
func (r *recorder) tally(err error) {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			r.tally(e)
		}
		return
	}
	msg := err.Error()
	if _, ok := r.errCounts[msg]; !ok {
		if len(r.errOrder) == maxNotices {
			r.errDropped++
			return
		}
		r.errOrder = append(r.errOrder, msg)
	}
	r.errCounts[msg]++
}

func (r *recorder) finish() {
	for _, msg := range r.errOrder {
		line := msg
		if !strings.HasPrefix(line, "gpu: ") {
			line = "gpu: " + line
		}
		r.series.Notices = append(r.series.Notices, fmt.Sprintf("%s (%d of %d rounds)", line, r.errCounts[msg], r.rounds))
	}
	if r.errDropped > 0 {
		r.series.Notices = append(r.series.Notices, fmt.Sprintf("gpu: %d more failed readings not listed", r.errDropped))
	}
}

// energyTracker turns one device's raw energy counter into energy since the first round.
type energyTracker struct {
	started bool
	raw     float64 // last raw counter, J
	at      time.Duration
	powerW  float64 // power at the last round; valid if havePow
	havePow bool
	total   float64
}

// add replaces s's raw counter with the cumulative energy and reports whether the counter
// went backwards or jumped.
func (e *energyTracker) add(s *results.GPUSample) (reset bool) {
	p, hasPow := s.Get(results.GPUPower)
	defer func() { e.powerW, e.havePow = p, hasPow }()
	raw, ok := s.Get(results.GPUEnergy)
	if !ok {
		return false
	}
	defer func() { e.raw, e.at = raw, s.At }()
	if !e.started {
		e.started = true
		s.Set(results.GPUEnergy, 0)
		return false
	}
	dt := (s.At - e.at).Seconds()
	step := raw - e.raw
	if step < 0 || step > maxPlausibleW*dt+1 {
		reset = true
		step = 0
		switch {
		case hasPow && e.havePow:
			step = (p + e.powerW) / 2 * dt
		case hasPow:
			step = p * dt
		case e.havePow:
			step = e.powerW * dt
		}
	}
	e.total += step
	s.Set(results.GPUEnergy, e.total)
	return reset
}

// mergeRounds halves a series in place by merging adjacent rounds pairwise. The first round
// stays as it is, so the series keeps its origin (energy 0 at the start); so does an odd
// last round.
func mergeRounds(samples []results.GPUSample, nd int) []results.GPUSample {
	rounds := len(samples) / nd
	out := 1
	for r := 1; r < rounds; r += 2 {
		for d := range nd {
			a := samples[r*nd+d]
			if r+1 < rounds {
				// The sample before a is the last one written: its At is unchanged.
				prev := samples[(out-1)*nd+d].At
				b := samples[(r+1)*nd+d]
				a = mergeSample(a, b, (a.At - prev).Seconds(), (b.At - a.At).Seconds())
			}
			samples[out*nd+d] = a
		}
		out++
	}
	return samples[:min(out, rounds)*nd]
}

// mergeSample merges a and the later b, which stand for wa and wb seconds: memory keeps its
// peak, temperature too, counters and totals the latest value, other gauges their mean
// weighted by time.
func mergeSample(a, b results.GPUSample, wa, wb float64) results.GPUSample {
	if wa <= 0 || wb <= 0 {
		wa, wb = 1, 1
	}
	m := b
	for i := range results.NumGPUFields {
		f := results.GPUField(1 << i)
		va, okA := a.Get(f)
		vb, okB := b.Get(f)
		switch {
		case !okA:
			continue // m already holds b's value or its absence
		case !okB:
			if f != results.GPUEnergy { // an energy value belongs to its own time
				m.Set(f, va)
			}
			continue
		}
		switch f {
		case results.GPUMemoryUsed, results.GPUProcessMemory, results.GPUOthersMemory, results.GPUTemperature:
			m.Set(f, max(va, vb))
		case results.GPUUtilization, results.GPUMemoryUtil, results.GPUPower, results.GPUSMClock, results.GPUOthersUtil:
			m.Set(f, (va*wa+vb*wb)/(wa+wb))
		}
	}
	return m
}

// roundRange returns the rounds with from ≤ At ≤ to.
func roundRange(s results.GPUSeries, from, to time.Duration) (first, end int) {
	nd := len(s.Devices)
	if nd == 0 {
		return 0, 0
	}
	rounds := len(s.Samples) / nd
	at := func(r int) time.Duration { return s.Samples[r*nd].At }
	first = sort.Search(rounds, func(r int) bool { return at(r) >= from })
	end = sort.Search(rounds, func(r int) bool { return at(r) > to })
	return first, max(first, end)
}

// Window returns the part of the series with from ≤ At ≤ to, sharing its samples: the
// series of one stage, for a results file. Notices and counts stay with the whole series.
func Window(s results.GPUSeries, from, to time.Duration) results.GPUSeries {
	first, end := roundRange(s, from, to)
	nd := len(s.Devices)
	w := s
	w.Samples = s.Samples[first*nd : end*nd : end*nd]
	w.EnergyCounterResets = 0
	w.Notices = nil
	return w
}
