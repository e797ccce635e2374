package main

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/sim"
)

// The simulator's cost model, presets and profile format are documented in `llmload sim
// --help` and in the README, and the documentation is the simulator's: the presets' numbers
// are its own, the example profile loads, and every profile field is listed.
func TestSimulatorIsDocumented(t *testing.T) {
	help := simModelHelp()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range sim.Presets() {
		name := strings.TrimSuffix(p.Name, ":latest")
		row := fmt.Sprintf("| `%s` | %s | %g | %g/s", name, p.DecodeStep, p.BatchAlpha, p.PrefillRate)
		if !strings.Contains(string(readme), row) {
			t.Errorf("README's preset table lacks %q", row)
		}
		kv := fmt.Sprintf("%g MiB at num_ctx %d", p.MiBPerSlot(0), p.ContextLength)
		if !strings.Contains(string(readme), kv) {
			t.Errorf("README's preset table lacks %s's %q", name, kv)
		}
		if !strings.Contains(help, name) {
			t.Errorf("sim --help lacks preset %s", name)
		}
	}
	for _, doc := range []struct{ name, text string }{{"sim --help", help}, {"README", string(readme)}} {
		i := strings.Index(doc.text, "models:\n")
		if i < 0 {
			t.Fatalf("%s has no example profile", doc.name)
		}
		example := doc.text[i:]
		example = example[:strings.Index(example, "\n\n")]
		example = strings.TrimSuffix(example, "\n```")
		ps, err := sim.LoadProfiles(strings.NewReader(dedent(example)))
		if err != nil || len(ps) != 2 || ps[1].MiBPerSlot(0) != 512 {
			t.Errorf("%s's example profile: %v (%d profiles)\n%s", doc.name, err, len(ps), example)
		}
	}
	rt := reflect.TypeOf(sim.Profile{})
	for i := range rt.NumField() {
		tag := rt.Field(i).Tag.Get("yaml")
		if !strings.Contains(help, tag) {
			t.Errorf("sim --help does not list the profile field %s", tag)
		}
	}
	for _, term := range []string{"decode_step × (1 + batch_alpha × (b − 1))", "k / prefill_rate", "weights_mib + overhead_mib"} {
		if !strings.Contains(help, term) || !strings.Contains(string(readme), term) {
			t.Errorf("the cost model's %q is not in both sim --help and the README", term)
		}
	}
}

// dedent removes the indent the first line has from every line.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	indent := len(lines[0]) - len(strings.TrimLeft(lines[0], " "))
	for i, l := range lines {
		if len(l) >= indent {
			lines[i] = l[indent:]
		}
	}
	return strings.Join(lines, "\n")
}
