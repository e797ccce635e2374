// Command benchtable runs the measurements of `make bench` (see perf.Driver) and prints one
// table: figure, target, measured, ok. It also keeps the figures in -out (latest.json, and a
// line per run in history.jsonl) so that they can be followed from run to run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"github.com/llmload/llmload/cmd/internal/perf"
)

func main() {
	d := &perf.Driver{Log: os.Stderr}
	var out, sections string
	flag.StringVar(&d.Go, "go", "go", "the go command, for the Go benchmarks")
	flag.StringVar(&d.LLMLoad, "llmload", "bin/llmload", "the llmload binary")
	flag.StringVar(&d.Instant, "instant", "bin/instantserver", "the instantserver binary")
	flag.StringVar(&d.Floor, "floor", "", "the floorclient binary; empty skips it")
	flag.StringVar(&d.AB, "ab", "", "ab (apache2-utils); empty skips it")
	flag.StringVar(&d.Hey, "hey", "", "hey; empty skips it")
	flag.StringVar(&out, "out", "bin/bench", "directory for scratch files and the tracked figures")
	flag.IntVar(&d.N, "n", 100000, "requests per tool per round against the instant server")
	flag.IntVar(&d.Rounds, "rounds", 5, "paired rounds of llmload, ab and hey")
	flag.DurationVar(&d.LongRun, "long", 40*time.Second, "length of the constant-memory run")
	flag.StringVar(&sections, "only", "", "comma-separated sections to run (default all): "+strings.Join(perf.Sections, ","))
	flag.Parse()
	if sections != "" {
		d.Sections = strings.Split(sections, ",")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(2)
	}
	d.Dir = out
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	// Every step has its own bounds; this one stops a run that hangs regardless.
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()

	start := time.Now()
	figs := d.Run(ctx)
	fmt.Println()
	if err := perf.WriteTable(os.Stdout, figs); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	met, judged := 0, 0
	for _, f := range figs {
		if f.OK != nil {
			judged++
			if *f.OK {
				met++
			}
		}
	}
	fmt.Printf("\n%d of %d targets met, %d CPUs, %s\n", met, judged, runtime.NumCPU(), time.Since(start).Round(time.Second))
	rec := perf.Record{Time: start.UTC(), CPUs: runtime.NumCPU(), Figures: figs, Commit: commit()}
	rec.Host, _ = os.Hostname()
	if err := perf.Track(out, rec); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	fmt.Printf("figures kept in %s/latest.json and %s/history.jsonl\n", out, out)
}

func commit() string {
	b, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
