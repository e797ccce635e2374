package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// A --body file is sent as it is: the model and protocol it names are what the run reports,
// and a -m or --api that says otherwise is refused.
func TestBodyFileNamesTheModelAndProtocol(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "chat.json", `{"model":"codellama:7b","messages":[{"role":"user","content":"hi"}],"options":{"num_predict":8}}`)
	writeFile(t, dir, "openai.json", `{"model":"codellama:7b","prompt":"hi","max_tokens":8,"stream":true}`)
	r := llmload(t, dir, "run", "--sim", "--sim-speed", "20", "--body", "chat.json", "-n", "2", "--warmup", "0", "--gpu", "off", "-o", "out.json", "--records", "rec.jsonl", "--no-progress")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	run := readResults(t, filepath.Join(dir, "out.json")).Runs[0]
	if m := run.Plan.Mix[0]; m.Model != "codellama:7b" || m.API != "ollama-chat" || run.Target.API != "ollama-chat" || run.Stages[0].Requests.OK != 2 {
		t.Errorf("mix %+v, target API %s, requests %+v; want codellama:7b over ollama-chat, 2 ok", m, run.Target.API, run.Stages[0].Requests)
	}
	if !strings.Contains(r.stdout, "Model: codellama:7b") {
		t.Errorf("summary does not name the body's model:\n%s", r.stdout)
	}
	for _, rec := range readRecords(t, filepath.Join(dir, "rec.jsonl")) {
		if rec.Model != "codellama:7b" {
			t.Errorf("record says model %q", rec.Model)
		}
	}
	// A body with OpenAI's fields goes to OpenAI's endpoint.
	r = llmload(t, dir, "run", "--sim", "--sim-speed", "20", "--body", "openai.json", "-n", "1", "--warmup", "0", "--gpu", "off", "-o", "out2.json", "-q")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if m := readResults(t, filepath.Join(dir, "out2.json")).Runs[0].Plan.Mix[0]; m.API != "openai-completions" || !m.Stream {
		t.Errorf("openai.json: api %s stream %v; want openai-completions, streamed", m.API, m.Stream)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-m", "llama3.2:1b", "--body", "chat.json"}, `--body chat.json names model "codellama:7b", -m "llama3.2:1b"`},
		{[]string{"--api", "ollama-generate", "--body", "chat.json"}, "--body chat.json is written for ollama-chat, not for --api ollama-generate"},
		{[]string{"--api", "openai-chat", "--body", "openai.json"}, "--body openai.json is written for openai-completions"},
	} {
		r := llmload(t, dir, append([]string{"run", "--sim"}, tt.args...)...)
		if r.code != exitBadInput || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
	// The same body under -m of its own model, or --api of its own protocol, is fine.
	sys, _, _ := testSystem(nil)
	if _, err := runOptionsOf(t, sys, "--sim", "-m", "codellama:7b", "--api", "ollama-chat", "--body", filepath.Join(dir, "chat.json")); err != nil {
		t.Errorf("agreeing -m and --api: %v", err)
	}
}

// -n below -c: the default -n grows to the stage's concurrency, so that a stage named c=16
// has 16 requests in flight; an -n given explicitly is kept, and the run says what it means.
func TestRequestsBelowConcurrency(t *testing.T) {
	sys, _, _ := testSystem(nil)
	o, err := runOptionsOf(t, sys, "--sim", "-c", "1,4,16")
	if err != nil {
		t.Fatal(err)
	}
	var ns []int
	for _, st := range o.session.Workload.Plan.Stages {
		ns = append(ns, st.Requests)
	}
	if len(ns) != 3 || ns[0] != 10 || ns[1] != 10 || ns[2] != 16 {
		t.Errorf("default -n per stage of -c 1,4,16: %v, want [10 10 16]", ns)
	}
	if len(o.session.Workload.Notes) != 0 {
		t.Errorf("notes %q", o.session.Workload.Notes)
	}
	// The sweep's own example.
	so, err := sweepOptionsOf(t, sys, "--sim", "--num-parallel", "1,2", "-c", "1,4,16")
	if err != nil {
		t.Fatal(err)
	}
	if st := sweepSession(so).Workload.Plan.Stages; st[2].Requests != 16 {
		t.Errorf("sweep -c 1,4,16: stage c=16 has %d requests", st[2].Requests)
	}
	dir := t.TempDir()
	r := llmload(t, dir, "run", "--sim", "-m", "instant", "-c", "2,8", "-n", "4", "--warmup", "0", "--gpu", "off", "-o", "out.json", "--no-progress")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	const note = "stage c=8 sends 4 requests: no more than 4 are ever in flight, not 8"
	if run := readResults(t, filepath.Join(dir, "out.json")).Runs[0]; len(run.Notes) == 0 || !strings.Contains(strings.Join(run.Notes, "\n"), note) {
		t.Errorf("results notes %q", run.Notes)
	}
	if !strings.Contains(r.stdout, note) {
		t.Errorf("summary does not say it:\n%s", r.stdout)
	}
}
