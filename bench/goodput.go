package bench

import (
	"fmt"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// GoodputSLO is a per-request objective (vLLM's and AIPerf's goodput): a request is good when it
// succeeded and met every bound given. A zero bound is no bound. A request with no TTFT (not
// streamed) cannot show that it met a TTFT bound, so it is not good under one.
type GoodputSLO struct {
	TTFT, TPOT, E2E time.Duration
}

// ParseGoodput reads "ttft=500ms,tpot=50ms,e2e=10s" (any of the three, in any order; ":" works
// as "=" too, as vLLM writes it).
func ParseGoodput(s string) (*GoodputSLO, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	g := &GoodputSLO{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			k, v, ok = strings.Cut(strings.TrimSpace(part), ":")
		}
		if !ok {
			return nil, fmt.Errorf("%q: want NAME=DURATION, e.g. ttft=500ms", part)
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q: want a positive duration such as 500ms", part)
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case results.MetricTTFT:
			g.TTFT = d
		case results.MetricTPOT:
			g.TPOT = d
		case results.MetricE2E:
			g.E2E = d
		default:
			return nil, fmt.Errorf("%q: a per-request bound is on ttft, tpot or e2e", part)
		}
	}
	return g, nil
}

// String writes the objective as the results file keeps it: "ttft<=500ms,tpot<=50ms".
func (g *GoodputSLO) String() string {
	if g == nil {
		return ""
	}
	var parts []string
	for _, b := range []struct {
		name string
		d    time.Duration
	}{{results.MetricTTFT, g.TTFT}, {results.MetricTPOT, g.TPOT}, {results.MetricE2E, g.E2E}} {
		if b.d > 0 {
			parts = append(parts, b.name+"<="+b.d.String())
		}
	}
	return strings.Join(parts, ",")
}

// met reports whether a request is good under the objective (false when there is none).
func (g *GoodputSLO) met(r *api.Record, e2e time.Duration) bool {
	if g == nil || !r.OK() {
		return false
	}
	hasTTFT := r.Stream && len(r.TokenTimes) > 0
	if g.TTFT > 0 && (!hasTTFT || r.FirstToken > g.TTFT) {
		return false
	}
	if g.TPOT > 0 {
		if decode := r.Done - r.FirstToken; hasTTFT && r.OutputTokens > 1 && decode > 0 {
			if decode/time.Duration(r.OutputTokens-1) > g.TPOT {
				return false
			}
		} else if !hasTTFT {
			return false
		}
	}
	return g.E2E <= 0 || e2e <= g.E2E
}

// result is the goodput of total requests of which good met the objective, over wall.
func (g *GoodputSLO) result(good, total int, wall time.Duration) *results.Goodput {
	if g == nil {
		return nil
	}
	out := &results.Goodput{SLO: g.String(), Good: good, Total: total}
	if total > 0 {
		out.Share = results.Round3(float64(good) / float64(total))
	}
	if w := wall.Seconds(); w > 0 {
		out.RatePerS = results.Round3(float64(good) / w)
	}
	return out
}
