package bench

import (
	"maps"
	"math"
	"slices"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// Histogram range: 1 µs to 1 h at 3 significant figures, in microseconds.
const (
	histMin    = 1
	histMax    = int64(time.Hour / time.Microsecond)
	histDigits = 3
)

// Indexes of a stage's histograms, and their names.
const (
	histE2E = iota
	histService
	histTTFT
	histITL
	histTPOT
	histSendLag
	histResidual
	histTokenWaitRaw
	histCapWait
	numHists
)

var histNames = [numHists]string{results.MetricE2E, results.MetricService, results.MetricTTFT, results.MetricITL, results.MetricTPOT, results.MetricSendLag, results.MetricResidual, results.MetricFirstTokenWaitRaw, results.MetricCapWait}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

func recordDur(h *hdrhistogram.Histogram, d time.Duration) {
	us := d.Microseconds()
	if us < histMin {
		us = histMin
	}
	if us > histMax {
		us = histMax
	}
	_ = h.RecordValue(us) // cannot fail: the value is clamped into range
}

// stageMetrics accumulates one stage. It is owned by the collector goroutine alone.
type stageMetrics struct {
	hists      [numHists]*hdrhistogram.Histogram // by histE2E…
	counts     map[api.Class]int
	samples    map[api.Class]string
	total, ok  int
	outTokens  int64
	inTokens   int64
	fromServer int // successful records whose token count came from the server
	fromChunks int
	serviceSum time.Duration
	decodeSum  float64 // Σ per-request decode tok/s
	decodeN    int
	cached     int64 // prompt tokens the server's cache served (server timings)
	loads      int   // successful requests whose server timings show a model load
	newConns   int   // requests carried by a connection opened for them
	delayed    int   // open-loop requests that waited for a place under the cap
	reconnects int   // requests sent again after their kept-alive connection was found closed

	// Ollama decomposition sums over successful requests with server timings.
	decompN                                   int
	decompLlama                               int // of decompN, from llama-server's timings
	sumE2E, sumLoad, sumPrompt, sumEval, sumR time.Duration
	sumClient                                 time.Duration

	timeline map[int]*results.TimelinePoint
	byModel  map[string]*groupMetrics
	// byClass is kept when the mix has several classes (results.Template.Class).
	byClass map[string]*groupMetrics
	goodput *GoodputSLO // nil: no goodput asked for
	good    int
}

// groupMetrics is one model's or one class's share of a stage. A model keeps E2E and TTFT
// (the per-model line); a class keeps every latency a stage keeps, with its histograms.
type groupMetrics struct {
	counts          map[api.Class]int
	samples         map[api.Class]string
	total, ok, good int
	loads           int
	outTokens       int64
	e2e, ttft       *hdrhistogram.Histogram
	tpot, itl       *hdrhistogram.Histogram // classes only
}

func newGroup(full bool) *groupMetrics {
	g := &groupMetrics{counts: map[api.Class]int{}, e2e: newHist(), ttft: newHist()}
	if full {
		g.samples = map[api.Class]string{}
		g.tpot, g.itl = newHist(), newHist()
	}
	return g
}

// newStageMetrics makes a stage's accumulator; classes is whether to keep per-class figures,
// goodput the per-request objective (nil: none).
func newStageMetrics(classes bool, goodput *GoodputSLO) *stageMetrics {
	m := &stageMetrics{
		counts:   map[api.Class]int{},
		samples:  map[api.Class]string{},
		timeline: map[int]*results.TimelinePoint{},
		byModel:  map[string]*groupMetrics{},
		goodput:  goodput,
	}
	if classes {
		m.byClass = map[string]*groupMetrics{}
	}
	for i := range m.hists {
		m.hists[i] = newHist()
	}
	return m
}

// add folds one record in. runStart anchors the timeline.
func (m *stageMetrics) add(r *api.Record, runStart time.Time) {
	m.total++
	m.counts[r.Class]++
	if !r.OK() {
		if _, seen := m.samples[r.Class]; !seen && r.Error != "" {
			m.samples[r.Class] = r.Error
		}
	}
	service := r.Done
	e2e := max(0, r.Sent.Sub(r.Intended)) + service
	// The client's lag runs from when it could send: when due, or when a place under an open
	// loop's cap came free. The wait for that place is the server's saturation.
	ready := r.Intended
	if r.Placed.After(ready) {
		recordDur(m.hists[histCapWait], r.Placed.Sub(r.Intended))
		m.delayed++
		ready = r.Placed
	}
	lag := max(0, r.Sent.Sub(ready))
	m.serviceSum += service
	recordDur(m.hists[histSendLag], lag)
	if r.NewConn {
		m.newConns++
	}
	if r.Reconnected {
		m.reconnects++
	}

	mm := m.byModel[r.Model]
	if mm == nil {
		mm = newGroup(false)
		m.byModel[r.Model] = mm
	}
	cm := (*groupMetrics)(nil)
	if m.byClass != nil {
		if cm = m.byClass[r.Template]; cm == nil {
			cm = newGroup(true)
			m.byClass[r.Template] = cm
		}
	}
	mm.addCount(r)
	cm.addCount(r)
	if m.goodput.met(r, e2e) {
		m.good++
		mm.good++
		if cm != nil {
			cm.good++
		}
	}

	m.addTimeline(r, runStart)
	if !r.OK() {
		return
	}
	m.ok++
	m.outTokens += int64(r.OutputTokens)
	cm.addOK(r, e2e)
	mm.addOK(r, e2e)
	m.inTokens += int64(r.PromptTokens)
	if r.TokensFromServer {
		m.fromServer++
	} else {
		m.fromChunks++
	}
	recordDur(m.hists[histE2E], e2e)
	recordDur(m.hists[histService], service)

	if r.Stream && len(r.TokenTimes) > 0 {
		recordDur(m.hists[histTTFT], r.FirstToken)
		itl := m.hists[histITL]
		for i := 1; i < len(r.TokenTimes); i++ {
			recordDur(itl, r.TokenTimes[i]-r.TokenTimes[i-1])
		}
		decode := r.Done - r.FirstToken
		if r.OutputTokens > 1 && decode > 0 {
			recordDur(m.hists[histTPOT], decode/time.Duration(r.OutputTokens-1))
			m.decodeSum += float64(r.OutputTokens) / decode.Seconds()
			m.decodeN++
		}
	}
	if s := r.Server; s != nil {
		m.cached += int64(s.CachedCount)
		if s.Load >= results.ModelLoadMs*time.Millisecond {
			m.loads++
			if cm != nil {
				cm.loads++
			}
		}
	}
	if s := r.Server; s != nil && s.Total > 0 {
		res := s.Residual()
		if res < 0 {
			res = 0
		}
		recordDur(m.hists[histResidual], res)
		if r.Stream && len(r.TokenTimes) > 0 {
			w := r.FirstToken - s.Load - s.PromptEval
			if w < 0 {
				w = 0
			}
			recordDur(m.hists[histTokenWaitRaw], w)
		}
		m.decompN++
		if s.FromLlamaServer {
			m.decompLlama++
		}
		m.sumE2E += e2e
		m.sumLoad += s.Load
		m.sumPrompt += s.PromptEval
		m.sumEval += s.Eval
		m.sumR += res
		if c := service - s.Total; c > 0 {
			m.sumClient += c
		}
	}
}

// addCount counts a request of the group, whatever its outcome (nil: no group).
func (g *groupMetrics) addCount(r *api.Record) {
	if g == nil {
		return
	}
	g.total++
	g.counts[r.Class]++
	if g.samples != nil && !r.OK() && r.Error != "" {
		if _, seen := g.samples[r.Class]; !seen {
			g.samples[r.Class] = r.Error
		}
	}
}

// addOK folds a successful request's latencies into the group (nil: no group).
func (g *groupMetrics) addOK(r *api.Record, e2e time.Duration) {
	if g == nil {
		return
	}
	g.ok++
	g.outTokens += int64(r.OutputTokens)
	recordDur(g.e2e, e2e)
	if !r.Stream || len(r.TokenTimes) == 0 {
		return
	}
	recordDur(g.ttft, r.FirstToken)
	if g.itl == nil {
		return
	}
	for i := 1; i < len(r.TokenTimes); i++ {
		recordDur(g.itl, r.TokenTimes[i]-r.TokenTimes[i-1])
	}
	if decode := r.Done - r.FirstToken; r.OutputTokens > 1 && decode > 0 {
		recordDur(g.tpot, decode/time.Duration(r.OutputTokens-1))
	}
}

// addTimeline spreads the request's time in flight over the one-second buckets it overlaps,
// so that a bucket's InFlight is the mean number of requests in flight during that second.
func (m *stageMetrics) addTimeline(r *api.Record, runStart time.Time) {
	start := r.Intended.Sub(runStart)
	end := r.Sent.Sub(runStart) + r.Done
	if start < 0 {
		start = 0
	}
	for sec := int(start / time.Second); time.Duration(sec)*time.Second < end; sec++ {
		lo := max(start, time.Duration(sec)*time.Second)
		hi := min(end, time.Duration(sec+1)*time.Second)
		m.bucket(sec).InFlight += (hi - lo).Seconds()
	}
	b := m.bucket(int(end / time.Second))
	if r.OK() {
		b.Completed++
		b.OutputTokens += int64(r.OutputTokens)
	} else {
		b.Errors++
	}
}

func (m *stageMetrics) bucket(sec int) *results.TimelinePoint {
	b := m.timeline[sec]
	if b == nil {
		b = &results.TimelinePoint{T: float64(sec)}
		m.timeline[sec] = b
	}
	return b
}

// result turns the accumulated metrics into a StageResult; baseline is the calibrated
// residual of a request that did not wait (nil when unknown).
func (m *stageMetrics) result(st results.Stage, start, wall time.Duration, baseline *results.Baseline) *results.StageResult {
	res := &results.StageResult{
		Name:           st.Name,
		Concurrency:    st.Concurrency,
		Rate:           st.Rate,
		Arrival:        string(st.Arrival),
		MaxConcurrency: st.MaxConcurrency,
		StartS:         results.Round3(start.Seconds()),
		WallS:          results.Round3(wall.Seconds()),
		Requests:       counts(m.counts, m.total, m.ok, m.samples),
		OutputTokens:   m.outTokens,
		PromptTokens:   m.inTokens,
		PromptCached:   m.cached,
		ModelLoads:     m.loads,
		LatencyMs:      map[string]results.Summary{},
		Histograms:     map[string]string{},
	}
	switch {
	case m.fromServer > 0 && m.fromChunks > 0:
		res.TokenSource = "mixed"
	case m.fromServer > 0:
		res.TokenSource = "server"
	case m.fromChunks > 0:
		res.TokenSource = "chunks"
	}
	if w := wall.Seconds(); w > 0 {
		res.Throughput.RequestsPerS = results.Round3(float64(m.ok) / w)
		res.Throughput.OutputTokensPerS = results.Round3(float64(m.outTokens) / w)
		res.EffectiveParallelism = results.Round3(m.serviceSum.Seconds() / w)
	}
	if m.decodeN > 0 {
		res.Throughput.DecodeTokensPerS = results.Round3(m.decodeSum / float64(m.decodeN))
	}
	for i, k := range histNames[:histSendLag+1] {
		if h := m.hists[i]; h.TotalCount() > 0 {
			res.LatencyMs[k] = results.SummarizeHistogram(h)
		}
	}
	if st.OpenLoop() && st.MaxConcurrency > 0 {
		res.Saturation = &results.Saturation{Arrivals: m.total, Delayed: m.delayed}
		if h := m.hists[histCapWait]; h.TotalCount() > 0 {
			res.LatencyMs[results.MetricCapWait] = results.SummarizeHistogram(h)
		}
	}
	for i, h := range m.hists {
		k := histNames[i]
		if h.TotalCount() == 0 {
			continue
		}
		if enc, err := results.EncodeHistogram(h); err == nil {
			res.Histograms[k] = enc
		}
	}
	if m.decompN > 0 {
		n := float64(m.decompN)
		ms := func(d time.Duration) float64 { return results.Round3(float64(d) / float64(time.Millisecond) / n) }
		d := &results.Decomposition{
			Requests:       m.decompN,
			E2E:            ms(m.sumE2E),
			Load:           ms(m.sumLoad),
			PromptEval:     ms(m.sumPrompt),
			Eval:           ms(m.sumEval),
			Residual:       ms(m.sumR),
			ClientOverhead: ms(m.sumClient),
			Source:         "ollama",
		}
		switch {
		case m.decompLlama == m.decompN:
			d.Source = "llama-server"
		case m.decompLlama > 0:
			d.Source = "mixed"
		}
		res.LatencyMs[results.MetricResidual] = results.SummarizeHistogram(m.hists[histResidual])
		if baseline != nil {
			d.Overhead = results.Round3(math.Min(baseline.ResidualMs, d.Residual))
			d.QueueWait = results.Round3(d.Residual - d.Overhead)
			res.LatencyMs[results.MetricQueueWait] = results.SummarizeHistogram(m.hists[histResidual]).Shift(baseline.ResidualMs)
			if h := m.hists[histTokenWaitRaw]; h.TotalCount() > 0 {
				res.LatencyMs[results.MetricFirstTokenWait] = results.SummarizeHistogram(h).Shift(baseline.ResidualMs)
			}
		}
		if d.E2E > 0 {
			d.QueueShare = results.Round3(d.QueueWait / d.E2E)
		}
		res.Decomposition = d
	}
	if len(m.byModel) > 1 {
		res.ByModel = map[string]*results.Model{}
		for name, mm := range m.byModel {
			md := &results.Model{Requests: counts(mm.counts, mm.total, mm.ok, nil), OutputTokens: mm.outTokens, LatencyMs: map[string]results.Summary{}}
			if w := wall.Seconds(); w > 0 {
				md.OutputTokensPerS = results.Round3(float64(mm.outTokens) / w)
			}
			if mm.e2e.TotalCount() > 0 {
				md.LatencyMs[results.MetricE2E] = results.SummarizeHistogram(mm.e2e)
			}
			if mm.ttft.TotalCount() > 0 {
				md.LatencyMs[results.MetricTTFT] = results.SummarizeHistogram(mm.ttft)
			}
			res.ByModel[name] = md
		}
	}
	res.Goodput = m.goodput.result(m.good, m.total, wall)
	if len(m.byClass) > 0 {
		res.Classes = map[string]*results.Class{}
		for name, cm := range m.byClass {
			res.Classes[name] = cm.class(m.goodput, wall)
		}
	}
	for _, s := range slices.Sorted(maps.Keys(m.timeline)) {
		p := *m.timeline[s]
		p.InFlight = results.Round3(p.InFlight)
		res.Timeline = append(res.Timeline, p)
	}
	return res
}

// class is the group's figures as a results.Class.
func (g *groupMetrics) class(slo *GoodputSLO, wall time.Duration) *results.Class {
	c := &results.Class{
		Requests: counts(g.counts, g.total, g.ok, g.samples), OutputTokens: g.outTokens,
		LatencyMs: map[string]results.Summary{}, Histograms: map[string]string{},
		Goodput: slo.result(g.good, g.total, wall), ModelLoads: g.loads,
	}
	if w := wall.Seconds(); w > 0 {
		c.Throughput.RequestsPerS = results.Round3(float64(g.ok) / w)
		c.Throughput.OutputTokensPerS = results.Round3(float64(g.outTokens) / w)
	}
	for name, h := range map[string]*hdrhistogram.Histogram{results.MetricE2E: g.e2e, results.MetricTTFT: g.ttft, results.MetricTPOT: g.tpot, results.MetricITL: g.itl} {
		if h.TotalCount() == 0 {
			continue
		}
		c.LatencyMs[name] = results.SummarizeHistogram(h)
		if enc, err := results.EncodeHistogram(h); err == nil {
			c.Histograms[name] = enc
		}
	}
	return c
}

func counts(byClass map[api.Class]int, total, ok int, samples map[api.Class]string) results.Counts {
	c := results.Counts{Total: total, OK: ok}
	for class, n := range byClass {
		if class == api.ClassOK {
			continue
		}
		if c.Errors == nil {
			c.Errors = map[string]int{}
		}
		c.Errors[string(class)] = n
	}
	for class, s := range samples {
		if c.ErrorSamples == nil {
			c.ErrorSamples = map[string]string{}
		}
		c.ErrorSamples[string(class)] = s
	}
	return c
}
