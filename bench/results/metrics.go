package results

import (
	"math"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Names of the latency distributions a stage keeps: the keys of StageResult.LatencyMs and
// StageResult.Histograms.
const (
	MetricE2E            = "e2e"              // intended send → last byte
	MetricService        = "service"          // actual send → last byte
	MetricTTFT           = "ttft"             // send → first chunk with generated text
	MetricITL            = "itl"              // gaps between content chunks, pooled
	MetricTPOT           = "tpot"             // (last byte − first token) / (tokens − 1)
	MetricQueueWait      = "queue_wait"       // residual − baseline (Ollama)
	MetricFirstTokenWait = "first_token_wait" // TTFT − load − prompt_eval − baseline (Ollama streams)
	MetricSendLag        = "send_lag"         // actual send − when it could be sent (the client's lag)
	MetricCapWait        = "cap_wait"         // open loop: intended send → a place under max_concurrency
	// MetricResidual is total − load − prompt_eval − eval before calibration. Its histogram is
	// stored so that queue wait can be recomputed against another baseline.
	MetricResidual = "residual"
	// MetricFirstTokenWaitRaw is TTFT − load − prompt_eval before the baseline is subtracted.
	// Like the residual's, its histogram is stored so that first_token_wait can be recomputed
	// (report --merge) against another baseline.
	MetricFirstTokenWaitRaw = "first_token_wait_raw"
)

// SummarizeHistogram reads a histogram of microseconds as a Summary in milliseconds.
// (ValueAtQuantile takes percents.)
func SummarizeHistogram(h *hdrhistogram.Histogram) Summary {
	if h == nil || h.TotalCount() == 0 {
		return Summary{}
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Summary{
		N:    h.TotalCount(),
		Min:  ms(h.Min()),
		Mean: Round3(h.Mean() / 1000),
		P50:  ms(h.ValueAtQuantile(50)),
		P90:  ms(h.ValueAtQuantile(90)),
		P95:  ms(h.ValueAtQuantile(95)),
		P99:  ms(h.ValueAtQuantile(99)),
		Max:  ms(h.Max()),
	}
}

// Shift subtracts a constant from every figure of a summary, flooring at zero: queue wait is
// the residual distribution moved down by the baseline.
func (s Summary) Shift(ms float64) Summary {
	if s.N == 0 {
		return s
	}
	f := func(v float64) float64 { return Round3(math.Max(0, v-ms)) }
	return Summary{N: s.N, Min: f(s.Min), Mean: f(s.Mean), P50: f(s.P50), P90: f(s.P90), P95: f(s.P95), P99: f(s.P99), Max: f(s.Max)}
}

// Stat reads one statistic by name: p50, p90, p95, p99, max, mean or min; NaN for others.
func (s Summary) Stat(name string) float64 {
	switch name {
	case "p50":
		return s.P50
	case "p90":
		return s.P90
	case "p95":
		return s.P95
	case "p99":
		return s.P99
	case "max":
		return s.Max
	case "mean":
		return s.Mean
	case "min":
		return s.Min
	}
	return math.NaN()
}

// EncodeHistogram writes a histogram as a results file stores it: hdrhistogram-go's
// compressed base64 encoding, which keeps every count, so runs merge and compare without loss.
func EncodeHistogram(h *hdrhistogram.Histogram) (string, error) {
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	return string(b), err
}

// DecodeHistogram reads a histogram stored in a results file.
func DecodeHistogram(encoded string) (*hdrhistogram.Histogram, error) {
	return hdrhistogram.Decode([]byte(encoded))
}
