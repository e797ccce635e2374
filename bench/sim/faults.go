package sim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// FaultHeader is the request header that asks for faults on one request.
//
// Grammar (whitespace around items is ignored):
//
//	X-Llmload-Fault: fault *( "," fault )
//	fault = name [ "=" value ] [ "@" after ]
//
// where after is the number of content chunks (tokens) sent before the fault fires; left out,
// it is half of the request's output tokens (rounded down). Faults:
//
//	status=CODE          reply CODE (400–599) at once, with an error body in the protocol's own
//	                     shape (503 uses Ollama's "server busy" text); no slot is taken
//	midstream-error[@N]  an error object under HTTP 200 ({"error":"…"} line, or an SSE
//	                     data: {"error":{…}} event), then the body ends: no final chunk
//	cut[@N]              the body ends cleanly with no final chunk (NDJSON without done:true,
//	                     SSE without [DONE]); stream:false Ollama replies get "done":false and
//	                     no metrics, as Ollama's silent truncation does
//	garbage[@N]          one line that is not JSON; the stream then goes on normally
//	slow-first-byte=DUR  hold the headers and first byte back by DUR
//	stall=DUR[@N]        pause DUR, then go on
//	reset[@N]            reset the TCP connection (RST via hijack); reset@0 before any byte
//
// DUR is a Go duration ("2s", "150ms") in wall time: fault delays are not divided by
// Config.Speed, because they exist to trip a client's timeouts. With stream:false, positional
// faults fire when the reply would be written (midstream-error becomes HTTP 500, garbage a
// non-JSON body). Faults apply to generation requests only; a malformed header is a 400.
const FaultHeader = "X-Llmload-Fault"

// FaultRule injects a fault at random: each generation request gets Spec (in the header's
// grammar, possibly several faults) with probability Rate, drawn from Config.Seed.
type FaultRule struct {
	Spec string
	Rate float64
}

// ParseFaultRule reads "SPEC:RATE", e.g. "status=500:0.01" or "stall=2s@5:0.1", the form a
// command-line flag takes.
func ParseFaultRule(s string) (FaultRule, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return FaultRule{}, fmt.Errorf("fault rule %q: want SPEC:RATE", s)
	}
	rate, err := strconv.ParseFloat(strings.TrimSpace(s[i+1:]), 64)
	if err != nil {
		return FaultRule{}, fmt.Errorf("fault rule %q: rate: %w", s, err)
	}
	r := FaultRule{Spec: strings.TrimSpace(s[:i]), Rate: rate}
	if _, err := r.parse(); err != nil {
		return FaultRule{}, err
	}
	return r, nil
}

type parsedRule struct {
	faults faultSet
	rate   float64
}

func (r FaultRule) parse() (parsedRule, error) {
	if math.IsNaN(r.Rate) || r.Rate < 0 || r.Rate > 1 {
		return parsedRule{}, fmt.Errorf("fault rule %q: rate must be in [0, 1] (got %v)", r.Spec, r.Rate)
	}
	fs, err := parseFaults(r.Spec)
	if err != nil {
		return parsedRule{}, fmt.Errorf("fault rule: %w", err)
	}
	if fs.empty() {
		return parsedRule{}, fmt.Errorf("fault rule %q: no fault given", r.Spec)
	}
	return parsedRule{faults: fs, rate: r.Rate}, nil
}

// position says where a positional fault fires.
type position struct {
	on bool
	at int // content chunks before it; −1 = half the output
}

func (p position) resolve(outputTokens int) int {
	if p.at >= 0 {
		return min(p.at, outputTokens)
	}
	return outputTokens / 2
}

// faultSet is the faults for one request.
type faultSet struct {
	status        int
	slowFirstByte time.Duration
	stall         time.Duration
	midstream     position
	cut           position
	garbage       position
	stallAt       position
	reset         position
}

func (f faultSet) empty() bool { return f == faultSet{} }

// merge lays o over f: a fault o names replaces f's.
func (f faultSet) merge(o faultSet) faultSet {
	if o.status != 0 {
		f.status = o.status
	}
	if o.slowFirstByte != 0 {
		f.slowFirstByte = o.slowFirstByte
	}
	if o.stallAt.on {
		f.stallAt, f.stall = o.stallAt, o.stall
	}
	for _, p := range []struct{ dst, src *position }{
		{&f.midstream, &o.midstream}, {&f.cut, &o.cut}, {&f.garbage, &o.garbage}, {&f.reset, &o.reset},
	} {
		if p.src.on {
			*p.dst = *p.src
		}
	}
	return f
}

// parseFaults reads the header grammar documented at FaultHeader.
func parseFaults(spec string) (faultSet, error) {
	var fs faultSet
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, after, hasAt := strings.Cut(item, "@")
		pos := position{on: true, at: -1}
		if hasAt {
			n, err := strconv.Atoi(strings.TrimSpace(after))
			if err != nil || n < 0 {
				return faultSet{}, fmt.Errorf("fault %q: @ wants a chunk count ≥ 0", item)
			}
			pos.at = n
		}
		name, value, hasValue := strings.Cut(name, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		needValue := func() error {
			if !hasValue || value == "" {
				return fmt.Errorf("fault %q: %s needs a value (%s=…)", item, name, name)
			}
			return nil
		}
		noValue := func() error {
			if hasValue {
				return fmt.Errorf("fault %q: %s takes no value", item, name)
			}
			return nil
		}
		noAt := func() error {
			if hasAt {
				return fmt.Errorf("fault %q: %s takes no @position", item, name)
			}
			return nil
		}
		duration := func() (time.Duration, error) {
			d, err := time.ParseDuration(value)
			if err != nil || d < 0 {
				return 0, fmt.Errorf("fault %q: want a duration ≥ 0 such as 2s", item)
			}
			return d, nil
		}
		var err error
		switch name {
		case "status":
			if err = needValue(); err == nil {
				if err = noAt(); err == nil {
					n, cerr := strconv.Atoi(value)
					if cerr != nil || n < 400 || n > 599 {
						err = fmt.Errorf("fault %q: status wants a code in 400–599", item)
					}
					fs.status = n
				}
			}
		case "slow-first-byte":
			if err = needValue(); err == nil {
				if err = noAt(); err == nil {
					fs.slowFirstByte, err = duration()
				}
			}
		case "stall":
			if err = needValue(); err == nil {
				fs.stall, err = duration()
				fs.stallAt = pos
			}
		case "midstream-error":
			err = noValue()
			fs.midstream = pos
		case "cut":
			err = noValue()
			fs.cut = pos
		case "garbage":
			err = noValue()
			fs.garbage = pos
		case "reset":
			err = noValue()
			fs.reset = pos
		default:
			err = fmt.Errorf("fault %q: unknown fault %q (want status, midstream-error, cut, garbage, slow-first-byte, stall, reset)", item, name)
		}
		if err != nil {
			return faultSet{}, err
		}
	}
	return fs, nil
}
