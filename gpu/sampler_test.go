package gpu

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/llmload/llmload/bench/results"
)

// scriptBackend answers each round with read(round).
type scriptBackend struct {
	devs  []results.GPUDevice
	round int
	read  func(round int, dev int) (results.GPUSample, error)
}

func (b *scriptBackend) Name() string                 { return "script" }
func (b *scriptBackend) Devices() []results.GPUDevice { return b.devs }
func (b *scriptBackend) Close() error                 { return nil }
func (b *scriptBackend) Read(dst []results.GPUSample) ([]results.GPUSample, error) {
	var errs []error
	for d := range b.devs {
		s, err := b.read(b.round, d)
		dst = append(dst, s)
		if err != nil {
			errs = append(errs, err)
		}
	}
	b.round++
	return dst, errors.Join(errs...)
}

func oneDevice(read func(round int) results.GPUSample) *scriptBackend {
	return &scriptBackend{
		devs: []results.GPUDevice{{Index: 0, Name: "fake", MemoryTotalMiB: 1000}},
		read: func(r, _ int) (results.GPUSample, error) { return read(r), nil },
	}
}

func memSample(used float64) results.GPUSample {
	var s results.GPUSample
	s.Set(results.GPUMemoryUsed, used)
	return s
}

func TestSamplerRoundsOnTheRunClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The run started 5 s before sampling did: samples must sit on the run's clock.
		runStart := time.Now().Add(-5 * time.Second)
		b := oneDevice(func(r int) results.GPUSample { return memSample(float64(r)) })
		s := Start(t.Context(), b, SamplerConfig{Interval: 100 * time.Millisecond, ClockStart: runStart})
		time.Sleep(1050 * time.Millisecond)
		series := s.Stop()

		// First round at once, ten ticks, a last round at Stop.
		if len(series.Samples) != 12 {
			t.Fatalf("%d samples, want 12", len(series.Samples))
		}
		for i, smp := range series.Samples[:11] {
			want := 5*time.Second + time.Duration(i)*100*time.Millisecond
			if smp.At != want || smp.MemoryUsedMiB != float64(i) || smp.Device != 0 {
				t.Errorf("sample %d = %+v, want At %v", i, smp, want)
			}
		}
		if last := series.Samples[11].At; last != 6050*time.Millisecond {
			t.Errorf("last sample at %v, want 6.05s", last)
		}
		if series.IntervalMS != 100 || series.RoundsPerSample != 1 || len(series.Devices) != 1 {
			t.Errorf("series header = %+v", series)
		}
	})
}

func TestSamplerStopsWhenContextEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		b := oneDevice(func(int) results.GPUSample { return memSample(1) })
		s := Start(ctx, b, SamplerConfig{})
		time.Sleep(1100 * time.Millisecond) // default 250 ms: rounds at 0, .25, .5, .75, 1
		cancel()
		<-s.done
		a, c := s.Stop(), s.Stop() // idempotent
		if len(a.Samples) != 6 || len(c.Samples) != 6 {
			t.Errorf("%d and %d samples, want 6", len(a.Samples), len(c.Samples))
		}
	})
}

func TestSamplerWithoutDevicesStartsNothing(t *testing.T) {
	for _, b := range []Backend{offBackend{}, nil} {
		s := Start(t.Context(), b, SamplerConfig{})
		select {
		case <-s.done:
		default:
			t.Fatal("sampler without devices is running")
		}
		series := s.Stop()
		if len(series.Samples) != 0 || Summarize(series, 0, time.Hour, 10).Rounds != 0 {
			t.Errorf("series = %+v", series)
		}
	}
}

func TestSamplerTalliesFailedReadings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &scriptBackend{
			devs: []results.GPUDevice{{Index: 3}},
			read: func(r, _ int) (results.GPUSample, error) {
				if r%4 == 1 {
					return results.GPUSample{}, errors.New("device 3: power: GPU is lost")
				}
				return memSample(1), nil
			},
		}
		s := Start(t.Context(), b, SamplerConfig{Interval: time.Second})
		time.Sleep(7500 * time.Millisecond) // rounds 0..7, and a last one: 9
		series := s.Stop()
		want := []string{"gpu: device 3: power: GPU is lost (2 of 9 rounds)"}
		if len(series.Notices) != 1 || series.Notices[0] != want[0] {
			t.Errorf("notices = %q, want %q", series.Notices, want)
		}
		if series.Samples[1].Has(results.GPUMemoryUsed) || !series.Samples[2].Has(results.GPUMemoryUsed) {
			t.Error("failed round not marked missing")
		}
	})
}

func TestSamplerDropsMalformedRounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &badCountBackend{}
		s := Start(t.Context(), b, SamplerConfig{Interval: time.Second})
		time.Sleep(2500 * time.Millisecond)
		series := s.Stop()
		if len(series.Samples)%2 != 0 || len(series.Notices) != 1 ||
			!strings.Contains(series.Notices[0], "backend gave 1 samples for 2 devices") {
			t.Errorf("samples %d, notices %q", len(series.Samples), series.Notices)
		}
	})
}

// badCountBackend returns one sample instead of two every other round.
type badCountBackend struct{ n int }

func (b *badCountBackend) Name() string { return "bad" }
func (b *badCountBackend) Devices() []results.GPUDevice {
	return []results.GPUDevice{{Index: 0}, {Index: 1}}
}
func (b *badCountBackend) Close() error { return nil }
func (b *badCountBackend) Read(dst []results.GPUSample) ([]results.GPUSample, error) {
	b.n++
	if b.n%2 == 0 {
		return append(dst, results.GPUSample{}), nil
	}
	return append(dst, results.GPUSample{}, results.GPUSample{}), nil
}

func TestEnergyTrackerHandlesResetsAndWraps(t *testing.T) {
	type step struct {
		raw   float64 // NaN: counter missing this round
		power float64 // NaN: power missing
		want  float64 // cumulative J; NaN: missing
		reset bool
	}
	nan := math.NaN()
	steps := []step{ // one round per 100 ms
		{1000, 100, 0, false},       // baseline
		{1010, 100, 10, false},      // +10 J
		{1020, 100, 20, false},      // +10 J
		{5, 100, 30, true},          // went backwards (driver reload): 100 W × 0.1 s
		{15, 300, 40, false},        // +10 J
		{nan, 300, nan, false},      // counter missing: no value, no harm
		{35, 300, 60, false},        // +20 J over the gap
		{1e15, 300, 90, true},       // implausible jump (wrap of a narrow counter): (300+300)/2 × 0.1
		{1e15 + 5, nan, 95, false},  // +5 J
		{3, nan, 95, true},          // backwards, no power now or before: nothing known
		{13, 200, 105, false},       // +10 J
		{13, 200, 105, false},       // idle: +0
		{13 - 1e-9, 200, 125, true}, // any step back is a reset
	}
	var e energyTracker
	for i, st := range steps {
		var s results.GPUSample
		s.At = time.Duration(i) * 100 * time.Millisecond
		s.Set(results.GPUEnergy, st.raw)
		s.Set(results.GPUPower, st.power)
		reset := e.add(&s)
		got, ok := s.Get(results.GPUEnergy)
		switch {
		case math.IsNaN(st.want) && ok:
			t.Errorf("step %d: energy %v, want missing", i, got)
		case !math.IsNaN(st.want) && (!ok || math.Abs(got-st.want) > 1e-9):
			t.Errorf("step %d: energy %v (measured %v), want %v", i, got, ok, st.want)
		}
		if reset != st.reset {
			t.Errorf("step %d: reset = %v, want %v", i, reset, st.reset)
		}
	}
}

func TestSamplerCountsEnergyResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		counter := []float64{100, 110, 120, 1, 11}
		b := oneDevice(func(r int) results.GPUSample {
			var s results.GPUSample
			s.Set(results.GPUEnergy, counter[min(r, len(counter)-1)])
			s.Set(results.GPUPower, 10)
			return s
		})
		s := Start(t.Context(), b, SamplerConfig{Interval: time.Second})
		time.Sleep(4500 * time.Millisecond)
		series := s.Stop()
		if series.EnergyCounterResets != 1 {
			t.Errorf("resets = %d, want 1", series.EnergyCounterResets)
		}
		// 10 + 10 + (reset: 10 W × 1 s) + 10
		if got := series.Samples[4].EnergyJ; got != 40 {
			t.Errorf("energy = %v, want 40", got)
		}
	})
}

// Ticks and Stop never fall on the same instant in these tests: the sampler's select would
// pick one of them at random.

// Past MaxSamples rounds merge pairwise: memory stays bounded, the peak survives.
func TestSamplerBoundsMemoryKeepingPeaks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &scriptBackend{
			devs: []results.GPUDevice{{Index: 0}, {Index: 1}},
			read: func(r, d int) (results.GPUSample, error) {
				s := memSample(100)
				if r == 37 && d == 1 {
					s.Set(results.GPUMemoryUsed, 9999) // a one-round spike
				}
				s.Set(results.GPUUtilization, float64(r%2)*100) // alternates 0, 100
				s.Set(results.GPUEnergy, float64(r))
				return s, nil
			},
		}
		s := Start(t.Context(), b, SamplerConfig{Interval: time.Second, MaxSamples: 16})
		time.Sleep(99500 * time.Millisecond) // 100 rounds, and a last one
		series := s.Stop()
		if len(series.Samples) > 16 || len(series.Samples)%2 != 0 {
			t.Fatalf("%d samples, want at most 16, whole rounds", len(series.Samples))
		}
		if series.RoundsPerSample < 8 {
			t.Errorf("rounds per sample = %d", series.RoundsPerSample)
		}
		sum := Summarize(series, 0, 200*time.Second, 0)
		if p := sum.Devices[1].MemoryUsedPeakMiB; p == nil || *p != 9999 {
			t.Errorf("peak after merging = %v, want 9999", p)
		}
		// Time-weighted, exactly as without merging: 50 rounds at 100 % among rounds 1..99
		// (1 s each), the origin at 0 % (1 s), the last round at 0 % (0.5 s).
		if m := sum.Devices[0].UtilizationMeanPct; m == nil || math.Abs(*m-5000/100.5) > 1e-9 {
			t.Errorf("utilization mean after merging = %v, want %v", deref(m), 5000/100.5)
		}
		// The energy counter (1 J per round) survives merging exactly.
		if e := sum.Devices[0].EnergyJ; e == nil || *e != 100 {
			t.Errorf("energy after merging = %v, want 100", e)
		}
		for i := 2; i < len(series.Samples); i++ {
			if series.Samples[i].At <= series.Samples[i-2].At {
				t.Fatalf("rounds out of order at %d", i)
			}
		}
	})
}

func TestMergeSampleKeepsMissingApart(t *testing.T) {
	var a, b results.GPUSample
	a.Set(results.GPUPower, 100)
	a.Set(results.GPUEnergy, 5)
	b.Set(results.GPUUtilization, 50)
	m := mergeSample(a, b, 1, 1)
	if v, ok := m.Get(results.GPUPower); !ok || v != 100 {
		t.Errorf("power = %v %v, want a's 100", v, ok)
	}
	if v, ok := m.Get(results.GPUUtilization); !ok || v != 50 {
		t.Errorf("utilization = %v %v, want b's 50", v, ok)
	}
	if m.Has(results.GPUEnergy) || m.Has(results.GPUMemoryUsed) {
		t.Errorf("valid = %b: energy belongs to its own time, memory was never read", m.Valid)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// A backend closed under a running sampler ends sampling instead of failing every tick.
func TestSamplerStopsOnClosedBackend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(h100())
		b := openFake(t, f, Options{})
		s := Start(t.Context(), b, SamplerConfig{Interval: time.Second})
		time.Sleep(2500 * time.Millisecond) // rounds at 0, 1, 2
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		select {
		case <-s.done:
		default:
			t.Fatal("sampler still running on a closed backend")
		}
		series := s.Stop()
		if len(series.Samples) != 3 || len(series.Notices) != 1 || !strings.Contains(series.Notices[0], "closed") {
			t.Errorf("samples %d, notices %q", len(series.Samples), series.Notices)
		}
	})
}
