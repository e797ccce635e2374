package bench

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// A run is written with every secret gone from its strings and map keys, wherever they are;
// the run itself (whose plan the workload shares) is left as it was, and so are histograms.
func TestRedactedRun(t *testing.T) {
	const secret = "sk-abcd"
	r := api.NewRedactor("http://127.0.0.1:1", http.Header{"X-Api-Key": {secret}})
	plan := &results.Plan{Mix: []*results.Template{{Model: "m", Options: map[string]any{"stop": []any{"x " + secret}}}}}
	run := &results.Run{
		Plan:   plan,
		Target: results.Target{ServerVersion: "1.0 " + secret, Models: []results.LoadedModel{{Name: secret + ":latest"}}},
		Stages: []*results.StageResult{{
			Name:       "c=1",
			Requests:   results.Counts{ErrorSamples: map[string]string{"http_500": "bad key " + secret}},
			Histograms: map[string]string{"e2e": "HISTsk-abcd"},
			ServerGauges: map[string]results.GaugeStats{
				"llamacpp:" + secret: {N: 1},
			},
		}},
		Notes: []string{secret},
	}
	out := redacted(run, r)
	b, _ := json.Marshal(out)
	if got := strings.Count(string(b), secret); got != 1 || out.Stages[0].Histograms["e2e"] != "HISTsk-abcd" {
		t.Errorf("%d secrets left (want only the histogram's):\n%s", got, b)
	}
	if _, ok := out.Stages[0].ServerGauges["llamacpp:[redacted]"]; !ok {
		t.Errorf("gauges %v", out.Stages[0].ServerGauges)
	}
	if plan.Mix[0].Options["stop"].([]any)[0] != "x "+secret || run.Target.ServerVersion != "1.0 "+secret {
		t.Error("the run given was changed")
	}
	if redacted(run, api.NewRedactor("http://127.0.0.1:1", nil)) != run {
		t.Error("a run without secrets was copied")
	}
}
