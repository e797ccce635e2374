package gpu

import (
	"cmp"
	"slices"
	"time"

	"github.com/llmload/llmload/bench/results"
)

// Summarize summarizes the stage running from from to to (on the run's clock) in which
// outputTokens tokens were generated. Rounds with from ≤ At ≤ to count; energy is measured
// between from and to exactly, interpolating between rounds, and is clipped to the span the
// series covers.
func Summarize(s results.GPUSeries, from, to time.Duration, outputTokens int64) results.GPUStageSummary {
	nd := len(s.Devices)
	if nd == 0 || len(s.Samples) < nd || to < from {
		return results.GPUStageSummary{}
	}
	first, end := roundRange(s, from, to)
	var sum results.GPUStageSummary
	sum.Devices = make([]results.GPUDeviceStats, nd)
	for d := range nd {
		sum.Devices[d] = results.GPUDeviceStats{
			Index:    s.Devices[d].Index,
			Name:     s.Devices[d].Name,
			GPUStats: deviceStats(s, d, first, end, from, to, outputTokens),
		}
	}
	sum.GPUStats = totalStats(s, sum.Devices, first, end, outputTokens)
	return sum
}

// column walks one device's samples across rounds.
type column struct {
	s     []results.GPUSample
	nd, d int
}

func (c column) at(r int) *results.GPUSample { return &c.s[r*c.nd+c.d] }

func deviceStats(s results.GPUSeries, d, first, end int, from, to time.Duration, tokens int64) results.GPUStats {
	c := column{s.Samples, len(s.Devices), d}
	st := results.GPUStats{Rounds: end - first}
	var mem, memTotal, util, memUtil, power, temp, clock, proc, othersMem, othersUtil gauge
	for r := first; r < end; r++ {
		x, w := c.at(r), weight(s, r)
		othersMem.add(w)(x.Get(results.GPUOthersMemory))
		othersUtil.add(w)(x.Get(results.GPUOthersUtil))
		mem.add(w)(x.Get(results.GPUMemoryUsed))
		memTotal.add(w)(x.Get(results.GPUMemoryTotal))
		util.add(w)(x.Get(results.GPUUtilization))
		memUtil.add(w)(x.Get(results.GPUMemoryUtil))
		power.add(w)(x.Get(results.GPUPower))
		temp.add(w)(x.Get(results.GPUTemperature))
		clock.add(w)(x.Get(results.GPUSMClock))
		proc.add(w)(x.Get(results.GPUProcessMemory))
	}
	st.MemoryUsedPeakMiB, st.MemoryUsedMeanMiB = mem.peak(), mem.mean()
	st.MemoryTotalMiB = memTotal.peak()
	st.UtilizationMeanPct, st.UtilizationP95Pct = util.mean(), util.p95()
	st.MemoryUtilMeanPct = memUtil.mean()
	st.PowerMeanW = power.mean()
	st.TemperatureMaxC = temp.peak()
	st.SMClockMeanMHz = clock.mean()
	st.ProcessMemoryPeakMiB = proc.peak()
	st.OthersMemoryPeakMiB, st.OthersUtilizationMeanPct = othersMem.peak(), othersUtil.mean()
	for r := first - 1; r >= 0; r-- {
		if v, ok := c.at(r).Get(results.GPUMemoryUsed); ok {
			st.MemoryUsedBeforeMiB = &v
			break
		}
	}

	rounds := len(s.Samples) / len(s.Devices)
	if e, ok := c.curve(rounds, results.GPUEnergy).delta(from, to); ok {
		st.EnergyJ, st.EnergySource = &e, results.GPUEnergyFromCounter
	} else if e, ok := c.curve(rounds, results.GPUPower).integral(from, to); ok {
		st.EnergyJ, st.EnergySource = &e, results.GPUEnergyFromPower
	}
	st.JoulesPerOutputToken = perToken(st.EnergyJ, tokens)
	return st
}

// totalStats combines the devices round by round. A round counts for a figure only when
// every device measured it, so a device dropping out never reads as a dip.
func totalStats(s results.GPUSeries, devs []results.GPUDeviceStats, first, end int, tokens int64) results.GPUStats {
	nd := len(s.Devices)
	st := results.GPUStats{Rounds: end - first}
	var mem, util, memUtil, power, temp, clock, proc, othersMem, othersUtil gauge
	for r := first; r < end; r++ {
		round, w := s.Samples[r*nd:(r+1)*nd], weight(s, r)
		othersMem.add(w)(combine(round, results.GPUOthersMemory, sumOf))
		othersUtil.add(w)(combine(round, results.GPUOthersUtil, meanOf))
		mem.add(w)(combine(round, results.GPUMemoryUsed, sumOf))
		util.add(w)(combine(round, results.GPUUtilization, meanOf))
		memUtil.add(w)(combine(round, results.GPUMemoryUtil, meanOf))
		power.add(w)(combine(round, results.GPUPower, sumOf))
		temp.add(w)(combine(round, results.GPUTemperature, maxOf))
		clock.add(w)(combine(round, results.GPUSMClock, meanOf))
		proc.add(w)(combine(round, results.GPUProcessMemory, sumOf))
	}
	st.MemoryUsedPeakMiB, st.MemoryUsedMeanMiB = mem.peak(), mem.mean()
	st.UtilizationMeanPct, st.UtilizationP95Pct = util.mean(), util.p95()
	st.MemoryUtilMeanPct = memUtil.mean()
	st.PowerMeanW = power.mean()
	st.TemperatureMaxC = temp.peak()
	st.SMClockMeanMHz = clock.mean()
	st.ProcessMemoryPeakMiB = proc.peak()
	st.OthersMemoryPeakMiB, st.OthersUtilizationMeanPct = othersMem.peak(), othersUtil.mean()

	before, total, energy := 0.0, 0.0, 0.0
	haveBefore, haveTotal, haveEnergy := true, true, true
	sources := map[string]bool{}
	for _, d := range devs {
		haveBefore = haveBefore && add(&before, d.MemoryUsedBeforeMiB)
		haveTotal = haveTotal && add(&total, d.MemoryTotalMiB)
		haveEnergy = haveEnergy && add(&energy, d.EnergyJ)
		sources[d.EnergySource] = true
	}
	if haveBefore {
		st.MemoryUsedBeforeMiB = &before
	}
	if haveTotal {
		st.MemoryTotalMiB = &total
	}
	if haveEnergy {
		st.EnergyJ = &energy
		st.EnergySource = devs[0].EnergySource
		if len(sources) > 1 {
			st.EnergySource = results.GPUEnergyMixed
		}
	}
	st.JoulesPerOutputToken = perToken(st.EnergyJ, tokens)
	return st
}

func add(acc *float64, v *float64) bool {
	if v == nil {
		return false
	}
	*acc += *v
	return true
}

func perToken(energy *float64, tokens int64) *float64 {
	if energy == nil || tokens <= 0 {
		return nil
	}
	v := *energy / float64(tokens)
	return &v
}

// fold says how a round's devices combine into one figure.
type fold int

const (
	sumOf fold = iota
	meanOf
	maxOf
)

// combine folds one field over a round's devices; ok only if every device has it.
func combine(round []results.GPUSample, f results.GPUField, how fold) (float64, bool) {
	var acc float64
	for i := range round {
		v, ok := round[i].Get(f)
		if !ok {
			return 0, false
		}
		switch {
		case i == 0:
			acc = v
		case how == maxOf:
			acc = max(acc, v)
		default:
			acc += v
		}
	}
	if how == meanOf {
		acc /= float64(len(round))
	}
	return acc, true
}

// weight is the time round r stands for: since the round before it, or one interval for the
// first. Means and percentiles are weighted by it, so a merged sample counts for all its
// rounds, and a dropped tick or the short last round at Stop count for what they cover.
func weight(s results.GPUSeries, r int) float64 {
	nd := len(s.Devices)
	w := s.IntervalMS / 1000
	if r > 0 {
		w = (s.Samples[r*nd].At - s.Samples[(r-1)*nd].At).Seconds()
	}
	return max(w, 1e-9)
}

// gauge collects one figure's values over a stage, each with its weight.
type gauge struct{ vals, weights []float64 }

// add returns a func taking a reading as GPUSample.Get returns it.
func (g *gauge) add(w float64) func(v float64, ok bool) {
	return func(v float64, ok bool) {
		if ok {
			g.vals = append(g.vals, v)
			g.weights = append(g.weights, w)
		}
	}
}

func (g *gauge) peak() *float64 {
	if len(g.vals) == 0 {
		return nil
	}
	v := slices.Max(g.vals)
	return &v
}

func (g *gauge) mean() *float64 {
	if len(g.vals) == 0 {
		return nil
	}
	var sum, wsum float64
	for i, v := range g.vals {
		sum += v * g.weights[i]
		wsum += g.weights[i]
	}
	v := sum / wsum
	return &v
}

// p95 is the weighted nearest-rank 95th percentile: the smallest value read at or below
// which 95 % of the stage's time lies.
func (g *gauge) p95() *float64 {
	if len(g.vals) == 0 {
		return nil
	}
	idx := make([]int, len(g.vals))
	var total float64
	for i := range idx {
		idx[i] = i
		total += g.weights[i]
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(g.vals[a], g.vals[b]) })
	var acc float64
	for _, i := range idx {
		acc += g.weights[i]
		if acc >= 0.95*total*(1-1e-12) {
			v := g.vals[i]
			return &v
		}
	}
	v := g.vals[idx[len(idx)-1]]
	return &v
}

// curve is one device's measured values of one field over time, as a piecewise-linear
// function.
type curve struct {
	t []float64 // seconds on the run's clock
	v []float64
}

func (c column) curve(rounds int, f results.GPUField) curve {
	var cv curve
	for r := range rounds {
		if v, ok := c.at(r).Get(f); ok {
			cv.t = append(cv.t, c.at(r).At.Seconds())
			cv.v = append(cv.v, v)
		}
	}
	return cv
}

// clip narrows [from, to] to the span the curve covers; ok is false when they do not meet.
func (cv curve) clip(from, to time.Duration) (a, b float64, ok bool) {
	if len(cv.t) < 2 {
		return 0, 0, false
	}
	a, b = max(from.Seconds(), cv.t[0]), min(to.Seconds(), cv.t[len(cv.t)-1])
	return a, b, a < b
}

// valueAt interpolates linearly; t must lie within the curve's span.
func (cv curve) valueAt(t float64) float64 {
	i, found := slices.BinarySearch(cv.t, t)
	if found || i == 0 {
		return cv.v[i]
	}
	t0, t1 := cv.t[i-1], cv.t[i]
	return cv.v[i-1] + (cv.v[i]-cv.v[i-1])*(t-t0)/(t1-t0)
}

// delta is the rise of a cumulative curve (the energy counter) from from to to.
func (cv curve) delta(from, to time.Duration) (float64, bool) {
	a, b, ok := cv.clip(from, to)
	if !ok {
		return 0, false
	}
	return cv.valueAt(b) - cv.valueAt(a), true
}

// integral is the area under the curve (power, W) from from to to, in joules.
func (cv curve) integral(from, to time.Duration) (float64, bool) {
	a, b, ok := cv.clip(from, to)
	if !ok {
		return 0, false
	}
	// Trapezoids over [a, b], with the ends interpolated.
	prevT, prevV := a, cv.valueAt(a)
	var area float64
	i, _ := slices.BinarySearch(cv.t, a)
	for ; i < len(cv.t) && cv.t[i] < b; i++ {
		if cv.t[i] <= a {
			continue
		}
		area += (cv.v[i] + prevV) / 2 * (cv.t[i] - prevT)
		prevT, prevV = cv.t[i], cv.v[i]
	}
	bv := cv.valueAt(b)
	area += (bv + prevV) / 2 * (b - prevT)
	return area, true
}
