package bench

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

func TestDistributions(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "lengths.txt"), "# one a line\n10\n\n20\n")
	read := func(p string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, p)) }
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(spec string, n int) []int {
		d, err := parseDist(spec, read)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		out := make([]int, n)
		for i := range out {
			out[i] = d.draw(rng)
		}
		return out
	}
	for _, v := range draw("7", 5) {
		if v != 7 {
			t.Errorf("fixed 7 drew %d", v)
		}
	}
	seen := map[int]bool{}
	for _, v := range draw("uniform:3-5", 300) {
		if v < 3 || v > 5 {
			t.Errorf("uniform:3-5 drew %d", v)
		}
		seen[v] = true
	}
	if len(seen) != 3 {
		t.Errorf("uniform:3-5 drew only %v", seen)
	}
	var sum, sq float64
	vals := draw("normal:300,50", 4000)
	for _, v := range vals {
		sum += float64(v)
	}
	mean := sum / float64(len(vals))
	for _, v := range vals {
		sq += (float64(v) - mean) * (float64(v) - mean)
	}
	if sd := math.Sqrt(sq / float64(len(vals))); math.Abs(mean-300) > 5 || math.Abs(sd-50) > 5 {
		t.Errorf("normal:300,50 drew mean %.1f sd %.1f", mean, sd)
	}
	for _, v := range draw("normal:2,50", 200) {
		if v < 1 {
			t.Errorf("normal:2,50 drew %d below 1", v)
		}
	}
	for _, v := range draw("file:lengths.txt", 50) {
		if v != 10 && v != 20 {
			t.Errorf("file drew %d", v)
		}
	}
	// A line too long for a scanner's default buffer is a bad line, not the file's end.
	writeFile(t, filepath.Join(dir, "long.txt"), "10\n"+strings.Repeat("1", 70_000)+"\n20\n")
	for _, bad := range []string{"0", "-3", "uniform:5-3", "uniform:1", "normal:300", "normal:NaN,1", "normal:5,-1", "zipf:2", "file:missing.txt", "99999999", "file:long.txt"} {
		if _, err := parseDist(bad, read); err == nil {
			t.Errorf("parseDist(%q): no error", bad)
		}
	}
}

// Drawn lengths, shared prefixes and fixed outputs come from the seed: two runs send the same bytes.
func TestWorkloadsAreSeededAndShaped(t *testing.T) {
	mk := func(api string, fixed bool) *Workload {
		w, err := Prepare(&results.Plan{Seed: 9, Stages: []results.Stage{{Concurrency: 1, Requests: 1}},
			Mix: []*results.Template{{Name: "batch", Model: "m", API: api, InputWords: "uniform:5-50", OutputTokens: "normal:64,16", SharedPrefixWords: 8, FixedOutput: fixed}}}, "")
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	bodies := func(w *Workload) []string {
		seq := newSequence(w)
		var out []string
		for range 30 {
			req, _ := seq.next()
			b, err := req.Body()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
		return out
	}
	a, b := bodies(mk("openai-completions", true)), bodies(mk("openai-completions", true))
	prefixes, lengths := map[string]bool{}, map[int]bool{}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("request %d differs between two runs of one seed:\n%s\n%s", i, a[i], b[i])
		}
		_, prompt, _ := strings.Cut(a[i], `"prompt":"`)
		words := strings.Fields(strings.Split(prompt, `"`)[0])
		prefixes[strings.Join(words[:8], " ")] = true
		lengths[len(words)-8] = true
		if !strings.Contains(a[i], `"ignore_eos":true,"min_tokens":`) {
			t.Errorf("fixed output not asked for: %s", a[i])
		}
	}
	if len(prefixes) != 1 || len(lengths) < 10 {
		t.Errorf("%d distinct prefixes (want 1), %d distinct prompt lengths (want many)", len(prefixes), len(lengths))
	}
	// Ollama cannot fix the output length: no such field goes, and the run will say so.
	w := mk("ollama-generate", true)
	if len(w.Notes) != 1 || !strings.Contains(w.Notes[0], "Ollama cannot give") || strings.Contains(strings.Join(bodies(w), ""), "ignore_eos") {
		t.Errorf("Ollama and a fixed output: notes %q", w.Notes)
	}
}

// A plan file's input_words entry survives the second Prepare a run gives it (after its flags):
// the first must not give it the default prompt as well.
func TestInputWordsSurviveASecondPrepare(t *testing.T) {
	p := &results.Plan{Seed: 1, Stages: []results.Stage{{Concurrency: 1, Requests: 1}}, Mix: []*results.Template{{Model: "m", InputWords: "uniform:5-9"}}}
	for i := range 2 {
		if _, err := Prepare(p, ""); err != nil {
			t.Fatalf("prepare %d: %v", i+1, err)
		}
	}
}
