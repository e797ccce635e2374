package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// maxDistValue bounds a length a distribution may give (tokens or words).
const maxDistValue = 1_000_000

// dist is a distribution of lengths (prompt words, output tokens), drawn from the run's seeded
// generator so that two runs with one seed send the same requests.
type dist struct {
	spec   string
	fixed  int
	lo, hi int     // uniform: lo to hi inclusive
	mean   float64 // normal
	sd     float64
	values []int // file: drawn from, uniformly
}

// parseDist reads "N" (always N), "uniform:LO-HI", "normal:MEAN,SD" (rounded, at least 1) or
// "file:PATH" (one whole number per line, each line as likely); PATH is read with read, which
// resolves it against the plan's folder.
func parseDist(spec string, read func(string) ([]byte, error)) (*dist, error) {
	d := &dist{spec: spec}
	kind, arg, hasKind := strings.Cut(strings.TrimSpace(spec), ":")
	if !hasKind {
		n, err := strconv.Atoi(kind)
		if err != nil || n < 1 || n > maxDistValue {
			return nil, fmt.Errorf("%q: want a whole number from 1 to %d, or uniform:LO-HI, normal:MEAN,SD, file:PATH", spec, maxDistValue)
		}
		d.fixed = n
		return d, nil
	}
	switch kind {
	case "uniform":
		a, b, ok := strings.Cut(arg, "-")
		lo, err1 := strconv.Atoi(strings.TrimSpace(a))
		hi, err2 := strconv.Atoi(strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || lo < 1 || hi < lo || hi > maxDistValue {
			return nil, fmt.Errorf("%q: want uniform:LO-HI with 1 ≤ LO ≤ HI ≤ %d", spec, maxDistValue)
		}
		d.lo, d.hi = lo, hi
	case "normal":
		a, b, ok := strings.Cut(arg, ",")
		mean, err1 := strconv.ParseFloat(strings.TrimSpace(a), 64)
		sd, err2 := strconv.ParseFloat(strings.TrimSpace(b), 64)
		if !ok || err1 != nil || err2 != nil || !(mean >= 1 && mean <= maxDistValue) || !(sd >= 0 && sd <= maxDistValue) {
			return nil, fmt.Errorf("%q: want normal:MEAN,SD with 1 ≤ MEAN ≤ %d and SD ≥ 0", spec, maxDistValue)
		}
		d.mean, d.sd = mean, sd
	case "file":
		b, err := read(arg)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", spec, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 0, 4096), len(b)+1) // a long line is an error below, not the end
		for line := 1; sc.Scan(); line++ {
			text := strings.TrimSpace(sc.Text())
			if text == "" || strings.HasPrefix(text, "#") {
				continue
			}
			n, err := strconv.Atoi(text)
			if err != nil || n < 1 || n > maxDistValue {
				return nil, fmt.Errorf("%s:%d: want a whole number from 1 to %d, got %q", arg, line, maxDistValue, text)
			}
			d.values = append(d.values, n)
		}
		if len(d.values) == 0 {
			return nil, fmt.Errorf("%s holds no lengths", arg)
		}
	default:
		return nil, fmt.Errorf("%q: unknown distribution %q (fixed N, uniform:LO-HI, normal:MEAN,SD, file:PATH)", spec, kind)
	}
	return d, nil
}

// draw takes one length.
func (d *dist) draw(rng *rand.Rand) int {
	switch {
	case d.fixed > 0:
		return d.fixed
	case d.hi > 0:
		return d.lo + rng.IntN(d.hi-d.lo+1)
	case d.values != nil:
		return d.values[rng.IntN(len(d.values))]
	}
	v := math.Round(d.mean + d.sd*rng.NormFloat64())
	return int(min(max(v, 1), maxDistValue))
}
