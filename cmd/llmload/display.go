package main

import (
	"fmt"

	"github.com/llmload/llmload/bench"
	"github.com/llmload/llmload/bench/results"
	"github.com/llmload/llmload/report"
	"github.com/llmload/llmload/report/printable"
)

// runDisplay shows a run's session: a line per repeat and the GPU notices on stderr, a
// progress bar (or status lines) while each run goes, and each run's summary on stdout.
func runDisplay(s *streams, plan *results.Plan, repeat int, quiet, noProgress bool) bench.SessionHooks {
	h := progressHooks(s, plan, quiet || noProgress)
	starting := h.RunStarting
	h.RunStarting = func(rep int, live *bench.Live) {
		if repeat > 1 && !quiet {
			fmt.Fprintf(s.err, "repeat %d/%d\n", rep, repeat)
		}
		starting(rep, live)
	}
	h.Notice = func(n string) {
		if !quiet {
			fmt.Fprintln(s.err, printable.Line(n))
		}
	}
	ended := h.RunEnded
	shown := shownNotes{}
	h.RunEnded = func(run *results.Run) error {
		_ = ended(run)
		if run == nil {
			return nil
		}
		if repeat > 1 {
			fmt.Fprintf(s.out, "=== repeat %d/%d ===\n", run.Repeat, repeat)
		}
		return report.WriteSummary(s.out, shown.fresh(run))
	}
	return h
}

// shownNotes are the notes a session's summaries have shown. Every run of a session carries
// the session's caveats (the simulator's about this machine's timers): the terminal says each
// once, the results file keeps them with every run.
type shownNotes map[string]bool

// fresh is run with only the notes not shown yet, which are then shown.
func (s shownNotes) fresh(run *results.Run) *results.Run {
	c := *run
	c.Notes = nil
	for _, n := range run.Notes {
		if !s[n] {
			s[n] = true
			c.Notes = append(c.Notes, n)
		}
	}
	return &c
}

// progressHooks show a progress bar (a status line every 10 s when stderr is not a terminal)
// from the start of each run to its end.
func progressHooks(s *streams, plan *results.Plan, off bool) bench.SessionHooks {
	var prog *progress
	return bench.SessionHooks{
		RunStarting: func(_ int, live *bench.Live) {
			prog = newProgress(s, plan, live, off)
		},
		Stage: func(i int, st results.Stage) {
			if prog != nil {
				prog.stage(i, st)
			}
		},
		RunEnded: func(*results.Run) error {
			if prog != nil {
				prog.finish()
				prog = nil
			}
			return nil
		},
	}
}
