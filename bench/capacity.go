package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/llmload/llmload/bench/results"
)

// CapacityConfig is a capacity search: the session that measures each load level, the
// objective each level is judged by, and how far to look.
type CapacityConfig struct {
	// Session measures each level. Its workload's mix is what every user sends; its stages
	// are replaced by one closed-loop stage per level. Its Output receives every run and, at
	// the end, the answer.
	Session SessionConfig
	// SLO names the objective as the results file keeps it ("ttft.p95<=2s,decode_tps>=10").
	SLO string
	// Judge says whether a level's stage meets the objective, and if not, which metrics miss
	// and how ("ttft.p95 3.1s > 2s").
	Judge func(st *results.StageResult) (ok bool, limiting, misses []string)
	// MaxUsers is the most users the search tries (default 256).
	MaxUsers int
	// Requests is how many requests a level sends for users at once (default: enough for
	// each user to send three, and at least twelve, so that a level's percentiles settle).
	Requests func(users int) int
	// OnStep is told each level's verdict as it comes.
	OnStep func(step results.CapacityStep, run *results.Run)
	// AllowNoisy goes on past a noisy level, keeping what made it noisy in the answer.
	AllowNoisy bool
}

// ErrNoisy says a capacity search stopped because a level's run was noisy: on this machine
// the answer would be a guess.
var ErrNoisy = errors.New("the machine is too noisy to tell")

// FindCapacity looks for the most users (closed-loop concurrency) the server serves within the
// objective: 1, 2, 4 … until a level misses it, then halving the gap between the last level
// that met it and the first that did not, until the gap is one user or an eighth of the answer. Every level is a run of the results file. It
// returns the answer with ErrNoisy when a run was noisy (the answer then holds what was
// found so far and why it stopped), with ErrInterrupted on an interrupt.
func FindCapacity(ctx context.Context, cfg CapacityConfig) (*results.Capacity, error) {
	if cfg.Judge == nil {
		return nil, &ConfigError{Field: "Judge", Err: errors.New("a capacity search needs an objective")}
	}
	if cfg.Session.Workload == nil {
		return nil, &ConfigError{Field: "Session.Workload", Err: errors.New("not prepared: call Prepare first")}
	}
	maxUsers := cfg.MaxUsers
	if maxUsers <= 0 {
		maxUsers = 256
	}
	if maxUsers > MaxConcurrency {
		return nil, &ConfigError{Field: "MaxUsers", Err: fmt.Errorf("at most %d, got %d", MaxConcurrency, maxUsers)}
	}
	requests := cfg.Requests
	if requests == nil {
		requests = func(users int) int { return max(3*users, 12) }
	}
	c := &results.Capacity{SLO: cfg.SLO}
	level := func(users, step int) (bool, error) {
		sc := cfg.Session
		plan := *sc.Workload.Plan
		plan.Stages = []results.Stage{{Name: fmt.Sprintf("c=%d", users), Concurrency: users, Requests: requests(users)}}
		if step > 0 {
			plan.Warmup = 0 // the first level's warm-up loaded the model
		}
		sc.Workload = &Workload{Plan: &plan, Notes: sc.Workload.Notes, sources: sc.Workload.sources}
		sc.Repeat = 1
		sc.MaxErrorRate = 1 // failures are the objective's to judge, not a reason to stop
		runs, err := RunSession(ctx, sc)
		if len(runs) == 0 || len(runs[0].Stages) == 0 {
			if err == nil {
				err = errors.New("the level measured nothing")
			}
			return false, err
		}
		run := runs[0]
		ok, limiting, misses := cfg.Judge(run.Stages[0])
		s := results.CapacityStep{Users: users, Meets: ok, Misses: misses}
		if sc.Output != nil {
			s.Run = len(sc.Output.Runs()) - 1
		}
		c.Steps = append(c.Steps, s)
		if !ok && (c.FirstFailing == 0 || users < c.FirstFailing) {
			c.FirstFailing, c.Limiting, c.Misses = users, limiting, misses
		}
		if ok && users > c.MaxConcurrency {
			c.MaxConcurrency = users
		}
		if cfg.OnStep != nil {
			cfg.OnStep(s, run)
		}
		if len(run.Noise) > 0 {
			if !cfg.AllowNoisy {
				c.Noise = run.Noise
				return ok, ErrNoisy
			}
			for _, n := range run.Noise {
				who := fmt.Sprintf("%d users", users)
				if users == 1 {
					who = "1 user"
				}
				c.NoisyLevels = append(c.NoisyLevels, who+": "+n)
			}
		}
		if run.Interrupted {
			return ok, ErrInterrupted
		}
		return ok, err
	}
	finish := func(err error) (*results.Capacity, error) {
		if cfg.Session.Output != nil {
			if werr := cfg.Session.Output.SetCapacity(c); werr != nil && err == nil {
				err = fmt.Errorf("write results: %w", werr)
			}
		}
		return c, err
	}
	// Doubling: up to the first level that misses.
	users, step := 1, 0
	for {
		ok, err := level(users, step)
		step++
		if err != nil {
			return finish(err)
		}
		if !ok {
			break
		}
		if users >= maxUsers {
			c.AtLeast = true
			return finish(nil)
		}
		users = min(2*users, maxUsers)
	}
	// Bisecting: between the most that met it and the fewest that did not, to within an
	// eighth: past a few users, one more or less is below what a level can tell apart.
	for lo, hi := c.MaxConcurrency, c.FirstFailing; hi-lo > max(1, lo/8); {
		mid := (lo + hi) / 2
		ok, err := level(mid, step)
		step++
		if err != nil {
			return finish(err)
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return finish(nil)
}
