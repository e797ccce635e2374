package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// llmloadLimited runs llmload as llmload does under a shell's `ulimit` (limit: "-n 40" sets
// both limits, "-S -n 40" the soft one alone).
func llmloadLimited(t *testing.T, dir, limit string, args ...string) result {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", "ulimit " + limit + ` && exec "$0" "$@"`, binary}, args...)...)
	cmd.Dir = dir
	return runCmd(t, cmd)
}

// slowServer holds every request for hold before its one-chunk reply: many connections open
// at once.
func slowServer(t *testing.T, hold time.Duration) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(hold)
		w.Header().Set("Content-Type", "application/x-ndjson")
		fmt.Fprintln(w, `{"response":"hi","done":true,"done_reason":"stop","eval_count":1,"total_duration":5}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Running out of file descriptors is the client's failure: its own class, and the stage's
// self-check says the client was overloaded and why; the results are still written. A soft
// limit below the hard one is no limit: Go raises it for its own process (since Go 1.19), so
// llmload needs no code of its own for that, and this test says if that ever changes.
func TestOutOfFileDescriptorsIsTheClients(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("descriptor limits as Linux counts them")
	}
	srv := slowServer(t, 300*time.Millisecond)
	dir := t.TempDir()
	args := []string{"run", "--url", srv.URL, "-m", "m", "-c", "64", "-n", "128", "--warmup", "0", "--gpu", "off", "--no-progress"}

	r := llmloadLimited(t, dir, "-n 40", append(args, "-o", "low.json")...)
	if r.code != exitFailed || strings.Contains(r.stderr, "panic") {
		t.Fatalf("exit %d, want %d\n%s%s", r.code, exitFailed, r.stdout, r.stderr)
	}
	st := readResults(t, filepath.Join(dir, "low.json")).Runs[0].Stages[0]
	if st.Requests.Errors[results.ClassClientLimit] == 0 || st.Requests.Errors[results.ClassNetwork] != 0 || st.Requests.OK == 0 {
		t.Errorf("requests %+v", st.Requests)
	}
	if !st.Client.Overloaded || !strings.Contains(st.Client.Reason, "file descriptors") {
		t.Errorf("self-check %+v", st.Client)
	}
	if said := strings.Join(strings.Fields(r.stdout), " "); !strings.Contains(said, "client overloaded") || !strings.Contains(said, "too many open files: the client is out of file descriptors") {
		t.Errorf("the summary does not say whose limit it was:\n%s", r.stdout)
	}

	r = llmloadLimited(t, dir, "-S -n 40", append(args, "-o", "soft.json")...)
	st = readResults(t, filepath.Join(dir, "soft.json")).Runs[0].Stages[0]
	if r.code != exitOK || st.Requests.OK != 128 || st.Client.Overloaded {
		t.Errorf("a soft limit of 40 under a higher hard one: exit %d, requests %+v, self-check %+v\n%s", r.code, st.Requests, st.Client, r.stderr)
	}
}

// hostileServer is an Ollama that puts say(r) — whatever the request made it say — into every
// text it sends back: its version, the names of the models it holds, its gauges' names, each
// reply's done_reason, its error bodies and error chunks.
func hostileServer(t *testing.T, say func(r *http.Request) string) *httptest.Server {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		text := say(r)
		quoted, _ := json.Marshal(text)
		q := string(quoted[1 : len(quoted)-1])
		switch r.URL.Path {
		case "/api/version":
			fmt.Fprintf(w, `{"version":"0.17.4 %s"}`, q)
		case "/api/ps":
			fmt.Fprintf(w, `{"models":[{"name":"m %s","size":1,"size_vram":1}]}`, q)
		case "/metrics":
			name := "llamacpp:requests_deferred" + strings.Join(strings.Fields(text), "_")
			fmt.Fprintf(w, "# TYPE %s gauge\n%s 1\n", name, name)
		case "/api/generate":
			switch n.Add(1) % 4 {
			case 0:
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprintf(w, `{"error":"bad key %s"}`, q)
			case 1:
				w.Header().Set("Content-Type", "application/x-ndjson")
				fmt.Fprintf(w, "{\"response\":\"hi\"}\n{\"error\":\"oops %s\"}\n", q)
			default:
				w.Header().Set("Content-Type", "application/x-ndjson")
				fmt.Fprintf(w, "{\"response\":\"hi\"}\n{\"done\":true,\"done_reason\":\"stop %s\",\"eval_count\":1,\"total_duration\":5}\n", q)
			}
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":"no %s"}`, q)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// everything runs llmload on a hostile server and gathers every text it writes or prints: the
// results and records files, the run's output, each report format, the gate in each format
// and its step summary.
func everything(t *testing.T, url string, extra ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	out, recs := filepath.Join(dir, "out.json"), filepath.Join(dir, "rec.jsonl")
	texts := map[string]string{}
	sys, stdout, stderr := testSystem(nil)
	err := execute(sys, append([]string{"run", "--url", url, "-m", "m", "-c", "1,2", "-n", "8", "--warmup", "1", "--gpu", "off",
		"--max-error-rate", "1", "-o", out, "--records", recs, "--label", "num_parallel=1"}, extra...), nil, nil)
	if err != nil {
		fmt.Fprintln(stderr, "llmload:", errorText(err))
	}
	texts["run stdout"], texts["run stderr"] = stdout.String(), stderr.String()
	for name, path := range map[string]string{"results": out, "records": recs} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		texts[name] = string(b)
	}
	for _, format := range []string{"markdown", "text", "html", "csv", "json", "hgrm"} {
		sys, stdout, stderr := testSystem(nil)
		args := []string{"report", out, "--format", format}
		hgrms := filepath.Join(dir, "hgrm") + string(filepath.Separator)
		if format == "hgrm" { // one table a file
			args = append(args, "-o", hgrms)
		}
		if err := execute(sys, args, nil, nil); err != nil {
			t.Errorf("report --format %s: %v", format, err)
		}
		texts["report "+format] = stdout.String() + stderr.String()
		if format == "hgrm" {
			paths, _ := filepath.Glob(hgrms + "*")
			if len(paths) == 0 {
				t.Errorf("report --format hgrm -o %s wrote nothing", hgrms)
			}
			for _, p := range paths {
				b, _ := os.ReadFile(p)
				texts["report hgrm "+filepath.Base(p)] = string(b)
			}
		}
	}
	summary := filepath.Join(dir, "step-summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	for _, format := range []string{"table", "markdown", "benchstat"} {
		sys, stdout, stderr := testSystem(nil)
		_ = execute(sys, []string{"gate", out, "--format", format, "--allow-overloaded", "--allow-noisy", "--assert", "errors.rate <= 1"}, nil, nil)
		texts["gate "+format] = stdout.String() + stderr.String()
	}
	b, _ := os.ReadFile(summary)
	texts["step summary"] = string(b)
	return texts
}

// A configured secret never reaches anything llmload writes or prints, even when the server
// echoes it back everywhere it can: in its version, model names, gauge names, done_reason,
// error bodies and error chunks. The secrets are a header's value and the URL's password, and
// the Basic token net/http builds from the URL.
func TestSecretsEchoedByTheServerAreRedacted(t *testing.T) {
	const key, password = "sk-hostile-0123456789", "hunter22-pw"
	basic := base64.StdEncoding.EncodeToString([]byte("alice:" + password))
	srv := hostileServer(t, func(r *http.Request) string {
		_, pw, _ := r.BasicAuth()
		return fmt.Sprintf("key=%s auth=%s pw=%s", r.Header.Get("X-Api-Key"), r.Header.Get("Authorization"), pw)
	})
	url := strings.Replace(srv.URL, "http://", "http://alice:"+password+"@", 1)
	texts := everything(t, url, "--header", "X-Api-Key: "+key)
	if !strings.Contains(texts["results"], "[redacted]") || !strings.Contains(texts["records"], "[redacted]") {
		t.Errorf("the server's echo did not come through redacted:\n%s", texts["results"])
	}
	for name, text := range texts {
		for _, secret := range []string{key, password, basic} {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %q:\n%s", name, secret, text)
			}
		}
	}
}

// evil is what a hostile server (or a hostile plan) says to take over a terminal or a CI log:
// an OSC title change, a screen clear, a NUL, a BEL, line breaks that forge a GitHub Actions
// workflow command, a bidi override.
const evil = "\x1b]0;pwned\x07\x1b[2J\x00bell\a\r\n::error file=x::forged\n  ::add-mask::x \u202eevil"

// shown checks that text holds nothing of evil that a terminal or a CI log would obey. JSON
// (results, records, the report's JSON) is data: it keeps what the server said, escaped as
// JSON escapes it, bidi overrides as they are.
func shown(t *testing.T, name, text string) {
	t.Helper()
	bad := "\x1b\x07\x00\u202e\r"
	if json.Valid([]byte(text)) || name == "records" {
		bad = "\x1b\x07\x00\r"
	}
	if i := strings.IndexAny(text, bad); i >= 0 {
		t.Errorf("%s holds %q:\n%q", name, text[i:min(len(text), i+4)], text)
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "::") {
			t.Errorf("%s forges a workflow command: %q", name, line)
		}
	}
}

// Nothing a server says, nor a plan's names, reaches a terminal or a CI log as something to
// obey: the run's summary, its progress lines, the sweep's, the reports, the gate's table,
// markdown, benchstat lines and step summary all show such text as one clean line.
func TestServerTextCannotDriveTheTerminal(t *testing.T) {
	srv := hostileServer(t, func(*http.Request) string { return evil })
	texts := everything(t, srv.URL)
	if !strings.Contains(texts["run stdout"], "pwned") || !strings.Contains(texts["run stdout"], "forged") {
		t.Errorf("the server's text is not in the summary at all:\n%s", texts["run stdout"])
	}

	dir := t.TempDir()
	plan := writeFile(t, dir, "plan.yaml", "stages:\n  - {name: "+strconvQuote("c=1"+evil)+", concurrency: 1, requests: 2}\nmix:\n  - {model: "+strconvQuote("m"+evil)+"}\n")
	sys, stdout, stderr := testSystem(nil)
	if err := execute(sys, []string{"run", "--sim", "--plan", plan, "--gpu", "off", "-o", filepath.Join(dir, "plan.json")}, nil, nil); err != nil {
		fmt.Fprintln(stderr, "llmload:", errorText(err))
	}
	texts["plan run stdout"], texts["plan run stderr"] = stdout.String(), stderr.String()
	summary := filepath.Join(dir, "step-summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	for _, format := range []string{"table", "markdown", "benchstat"} {
		sys, stdout, stderr := testSystem(nil)
		_ = execute(sys, []string{"gate", filepath.Join(dir, "plan.json"), "--format", format, "--allow-overloaded", "--allow-noisy",
			"--assert", "errors.rate <= 1", "--assert", "ttft.p50 < 1ns"}, nil, nil)
		texts["plan gate "+format] = stdout.String() + stderr.String()
	}
	b, _ := os.ReadFile(summary)
	texts["plan gate step summary"] = string(b)
	if !strings.Contains(texts["plan gate table"], "pwned") {
		t.Errorf("the gate's table does not name the stage:\n%s", texts["plan gate table"])
	}

	sys, stdout, stderr = testSystem(nil)
	err := execute(sys, []string{"sweep", "--sim", "--sim-speed", "50", "--num-parallel", "1", "-m", "m" + strings.ReplaceAll(evil, "=", " "), "-c", "1", "-n", "2",
		"--gpu", "off", "-o", filepath.Join(dir, "sweep")}, nil, nil)
	texts["sweep stdout"], texts["sweep stderr"] = stdout.String(), stderr.String()
	if err != nil {
		t.Fatalf("sweep: %v\n%s", err, stderr)
	}
	if !strings.Contains(texts["sweep stderr"], "[NUM_PARALLEL=1] m]0;pwned") {
		t.Errorf("the sweep's progress lines do not name the model:\n%s", texts["sweep stderr"])
	}
	for name, text := range texts {
		shown(t, name, text)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// FuzzOptionAndExtraBody: any --option and --extra-body values give a run or bad input (exit
// code 2), never a panic; a run's plan encodes into its results file and every template's
// request body encodes, on each API.
func FuzzOptionAndExtraBody(f *testing.F) {
	for _, s := range [][2]string{
		{"num_ctx=2048", `{"ignore_eos":true}`},
		{"stop=[\"a\",\"b\"]", `{"cache_prompt":false,"n":[1,{"x":null}]}`},
		{"temperature=NaN", `{"x":1e400}`},
		{"seed=-1e308", `{"model":"other"}`},
		{"x=" + strings.Repeat("[", 40) + strings.Repeat("]", 40), `{"a":` + strings.Repeat(`{"a":`, 30) + "1" + strings.Repeat("}", 31)},
		{"=1", `null`}, {"k", `[]`}, {"k=", `{}`},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, option, extra string) {
		for _, a := range []string{"ollama-generate", "openai-chat"} {
			sys, _, _ := testSystem(nil)
			o, err := runOptionsOf(t, sys, "-m", "m", "--api", a, "--option", option, "--extra-body", extra, "--fixed-output", "--max-tokens", "3")
			if err != nil {
				if exitCode(err) != exitBadInput {
					t.Fatalf("--option %q --extra-body %q: exit %d: %v", option, extra, exitCode(err), err)
				}
				continue
			}
			plan := o.session.Workload.Plan
			if _, err := json.Marshal(plan); err != nil {
				t.Fatalf("--option %q --extra-body %q: the plan does not encode: %v", option, extra, err)
			}
			for _, tpl := range plan.Mix {
				req := &api.Request{API: api.API(tpl.API), Model: tpl.Model, Prompt: "p", MaxTokens: 3, Options: tpl.Options, Extra: tpl.ExtraBody}
				if _, err := req.Body(); err != nil {
					t.Fatalf("--option %q --extra-body %q: the body does not encode: %v", option, extra, err)
				}
			}
		}
	})
}

// --synthetic-words past the bound is bad input that says so, not a panic (a negative
// strings.Builder.Grow), through the command line as a user types it.
func TestHugeSyntheticWordsIsBadInput(t *testing.T) {
	for _, n := range []string{"2000000000000000000", "1000001", "9223372036854775807"} {
		r := llmload(t, t.TempDir(), "run", "--sim", "--synthetic-words", n, "-n", "1", "--gpu", "off")
		if r.code != exitBadInput || !strings.Contains(r.stderr, "synthetic") || !strings.Contains(r.stderr, "1000000") || strings.Contains(r.stderr, "panic") {
			t.Errorf("--synthetic-words %s: exit %d\n%s", n, r.code, r.stderr)
		}
	}
}
