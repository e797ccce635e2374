package gpu

import (
	"cmp"
	"slices"
	"time"
)

// Energy sources of a Stats.
const (
	// EnergyFromCounter: the difference of the devices' energy counters.
	EnergyFromCounter = "counter"
	// EnergyFromPower: power integrated over time (the driver has no energy counter).
	EnergyFromPower = "power"
	// EnergyMixed: counters for some devices, power for others.
	EnergyMixed = "mixed"
)

// Stats summarizes GPU readings over one stage. A null (nil) value was not measured.
type Stats struct {
	// Rounds is the number of sampling rounds inside the stage.
	Rounds              int      `json:"rounds"`
	MemoryUsedPeakMiB   *float64 `json:"memory_used_peak_mib"`
	MemoryUsedMeanMiB   *float64 `json:"memory_used_mean_mib"`
	MemoryUsedBeforeMiB *float64 `json:"memory_used_before_mib"` // latest round before the stage
	MemoryTotalMiB      *float64 `json:"memory_total_mib"`
	UtilizationMeanPct  *float64 `json:"utilization_mean_pct"`
	UtilizationP95Pct   *float64 `json:"utilization_p95_pct"`
	MemoryUtilMeanPct   *float64 `json:"memory_util_mean_pct"`
	PowerMeanW          *float64 `json:"power_mean_w"`
	TemperatureMaxC     *float64 `json:"temperature_max_c"`
	SMClockMeanMHz      *float64 `json:"sm_clock_mean_mhz"`
	// ProcessMemoryPeakMiB is the peak held by Options.PID and its descendants.
	ProcessMemoryPeakMiB *float64 `json:"process_memory_peak_mib"`
	EnergyJ              *float64 `json:"energy_j"`
	// EnergySource says how EnergyJ was found: "counter", "power" or "mixed".
	EnergySource         string   `json:"energy_source,omitempty"`
	JoulesPerOutputToken *float64 `json:"joules_per_output_token"`
}

// StageSummary is a stage's GPU summary. Its top-level figures are for all sampled devices
// together: memory, power, energy and process memory are sums over devices, utilization and
// clocks their mean, temperature their maximum — computed per round, then over the stage.
// With one GPU they equal Devices[0]'s.
type StageSummary struct {
	Stats
	Devices []DeviceStats `json:"devices,omitempty"`
}

// DeviceStats is one device's share of a StageSummary.
type DeviceStats struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
	Stats
}

// Summarize summarizes the stage running from from to to (on the run's clock) in which
// outputTokens tokens were generated. Rounds with from ≤ At ≤ to count; energy is measured
// between from and to exactly, interpolating between rounds, and is clipped to the span the
// series covers.
func (s Series) Summarize(from, to time.Duration, outputTokens int64) StageSummary {
	nd := len(s.Devices)
	if nd == 0 || len(s.Samples) < nd || to < from {
		return StageSummary{}
	}
	first, end := s.roundRange(from, to)
	var sum StageSummary
	sum.Devices = make([]DeviceStats, nd)
	for d := range nd {
		sum.Devices[d] = DeviceStats{
			Index: s.Devices[d].Index,
			Name:  s.Devices[d].Name,
			Stats: s.deviceStats(d, first, end, from, to, outputTokens),
		}
	}
	sum.Stats = s.totalStats(sum.Devices, first, end, outputTokens)
	return sum
}

// column walks one device's samples across rounds.
type column struct {
	s     []Sample
	nd, d int
}

func (c column) at(r int) *Sample { return &c.s[r*c.nd+c.d] }

func (s Series) deviceStats(d, first, end int, from, to time.Duration, tokens int64) Stats {
	c := column{s.Samples, len(s.Devices), d}
	st := Stats{Rounds: end - first}
	var mem, memTotal, util, memUtil, power, temp, clock, proc gauge
	for r := first; r < end; r++ {
		x, w := c.at(r), s.weight(r)
		mem.add(w)(x.Get(MemoryUsed))
		memTotal.add(w)(x.Get(MemoryTotal))
		util.add(w)(x.Get(Utilization))
		memUtil.add(w)(x.Get(MemoryUtil))
		power.add(w)(x.Get(Power))
		temp.add(w)(x.Get(Temperature))
		clock.add(w)(x.Get(SMClock))
		proc.add(w)(x.Get(ProcessMemory))
	}
	st.MemoryUsedPeakMiB, st.MemoryUsedMeanMiB = mem.peak(), mem.mean()
	st.MemoryTotalMiB = memTotal.peak()
	st.UtilizationMeanPct, st.UtilizationP95Pct = util.mean(), util.p95()
	st.MemoryUtilMeanPct = memUtil.mean()
	st.PowerMeanW = power.mean()
	st.TemperatureMaxC = temp.peak()
	st.SMClockMeanMHz = clock.mean()
	st.ProcessMemoryPeakMiB = proc.peak()
	for r := first - 1; r >= 0; r-- {
		if v, ok := c.at(r).Get(MemoryUsed); ok {
			st.MemoryUsedBeforeMiB = &v
			break
		}
	}

	rounds := len(s.Samples) / len(s.Devices)
	if e, ok := c.curve(rounds, Energy).delta(from, to); ok {
		st.EnergyJ, st.EnergySource = &e, EnergyFromCounter
	} else if e, ok := c.curve(rounds, Power).integral(from, to); ok {
		st.EnergyJ, st.EnergySource = &e, EnergyFromPower
	}
	st.JoulesPerOutputToken = perToken(st.EnergyJ, tokens)
	return st
}

// totalStats combines the devices round by round. A round counts for a figure only when
// every device measured it, so a device dropping out never reads as a dip.
func (s Series) totalStats(devs []DeviceStats, first, end int, tokens int64) Stats {
	nd := len(s.Devices)
	st := Stats{Rounds: end - first}
	var mem, util, memUtil, power, temp, clock, proc gauge
	for r := first; r < end; r++ {
		round, w := s.Samples[r*nd:(r+1)*nd], s.weight(r)
		mem.add(w)(combine(round, MemoryUsed, sumOf))
		util.add(w)(combine(round, Utilization, meanOf))
		memUtil.add(w)(combine(round, MemoryUtil, meanOf))
		power.add(w)(combine(round, Power, sumOf))
		temp.add(w)(combine(round, Temperature, maxOf))
		clock.add(w)(combine(round, SMClock, meanOf))
		proc.add(w)(combine(round, ProcessMemory, sumOf))
	}
	st.MemoryUsedPeakMiB, st.MemoryUsedMeanMiB = mem.peak(), mem.mean()
	st.UtilizationMeanPct, st.UtilizationP95Pct = util.mean(), util.p95()
	st.MemoryUtilMeanPct = memUtil.mean()
	st.PowerMeanW = power.mean()
	st.TemperatureMaxC = temp.peak()
	st.SMClockMeanMHz = clock.mean()
	st.ProcessMemoryPeakMiB = proc.peak()

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
			st.EnergySource = EnergyMixed
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
func combine(round []Sample, f Field, how fold) (float64, bool) {
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
func (s Series) weight(r int) float64 {
	nd := len(s.Devices)
	w := s.IntervalMS / 1000
	if r > 0 {
		w = (s.Samples[r*nd].At - s.Samples[(r-1)*nd].At).Seconds()
	}
	return max(w, 1e-9)
}

// gauge collects one figure's values over a stage, each with its weight.
type gauge struct{ vals, weights []float64 }

// add returns a func taking a reading as Sample.Get returns it.
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

func (c column) curve(rounds int, f Field) curve {
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
