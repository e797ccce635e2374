package gpu

import (
	"testing"
	"time"

	"github.com/llmload/llmload/bench/results"
)

// BenchmarkSample measures one sampling round: the backend's reads plus the Sampler's
// stamping, energy tracking and append.
func BenchmarkSample(b *testing.B) {
	b.Run("sampler/static-backend", func(b *testing.B) {
		benchRounds(b, oneDevice(func(int) results.GPUSample {
			var s results.GPUSample
			s.Set(results.GPUMemoryUsed, 1000)
			s.Set(results.GPUPower, 100)
			s.Set(results.GPUEnergy, 5)
			return s
		}))
	})
	b.Run("sampler/nvml-logic-fake-driver", func(b *testing.B) {
		f := newFake(h100())
		f.quiet = true
		be, _, err := openNVML(f, Options{}, procParent)
		if err != nil {
			b.Fatal(err)
		}
		benchRounds(b, be)
	})
	b.Run("sampler/nvml", func(b *testing.B) {
		be, info, err := Open(ModeNVML, Options{})
		if err != nil {
			b.Skip(err)
		}
		defer be.Close()
		b.Logf("%d device(s): %s", len(info.Devices), info.Devices[0].Name)
		benchRounds(b, be)
	})
}

func benchRounds(b *testing.B, be Backend) {
	series := results.GPUSeries{Devices: be.Devices(), RoundsPerSample: 1}
	r := newRecorder(be, SamplerConfig{Interval: DefaultInterval, ClockStart: time.Now(), MaxSamples: DefaultMaxSamples}, &series)
	b.ReportAllocs()
	for b.Loop() {
		if len(series.Samples) >= cap(series.Samples) {
			series.Samples = series.Samples[:0] // measure a round, not slice growth
		}
		r.round()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(series.Devices)), "ns/device")
}
