package bench

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/results"
)

// PlanFile is a plan as read from YAML, with the target settings a file may also carry.
type PlanFile struct {
	Plan results.Plan
	URL  string // empty when the file does not set it
	Path string
	// Given holds the fields the file sets, by their place: "warmup", "stages[1].requests",
	// "mix[0].max_tokens" (a mix entry's include those its defaults give). A caller that fills
	// in what a file leaves out tells a zero the file wrote from one it did not.
	Given map[string]bool
}

// PlanError points at the place in a plan file that is wrong.
type PlanError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *PlanError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// LoadPlanFile reads and validates a YAML plan. Every error names the file, and where it can,
// the line and the field. Prompt and body files are resolved relative to the plan's folder.
// The plan comes back prepared (defaults filled in); a caller that changes it prepares it
// again to get the Workload it runs.
func LoadPlanFile(path string) (*PlanFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	pf, err := ParsePlan(path, b)
	if err != nil {
		return nil, err
	}
	if _, err := Prepare(&pf.Plan, filepath.Dir(path)); err != nil {
		return nil, &PlanError{File: path, Msg: err.Error()}
	}
	return pf, nil
}

// ReadPlanFile reads and parses a YAML plan without preparing it, for a caller that changes it
// first (and then prepares it, with PrepareFile).
func ReadPlanFile(path string) (*PlanFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	return ParsePlan(path, b)
}

// PrepareFile prepares the file's plan (see Prepare), its paths relative to the file's folder;
// an error names the file.
func (pf *PlanFile) PrepareFile() (*Workload, error) {
	w, err := Prepare(&pf.Plan, filepath.Dir(pf.Path))
	if err != nil {
		return nil, &PlanError{File: pf.Path, Msg: err.Error()}
	}
	return w, nil
}

// ParsePlan parses YAML plan text without preparing it (prompt files are not read).
func ParsePlan(name string, text []byte) (*PlanFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(text, &doc); err != nil {
		return nil, &PlanError{File: name, Line: yamlErrLine(err), Msg: cleanYAMLError(err)}
	}
	pf := &PlanFile{Path: name, Given: map[string]bool{}}
	if len(doc.Content) == 0 {
		return nil, &PlanError{File: name, Msg: "empty plan"}
	}
	d := &planDecoder{file: name, given: pf.Given}
	d.top(doc.Content[0], pf)
	if d.err != nil {
		return nil, d.err
	}
	return pf, nil
}

type planDecoder struct {
	file       string
	err        error // first error wins
	defaultAPI string
	defaults   *yaml.Node // template fields every mix entry starts from
	mixNode    *yaml.Node // decoded last, so that defaults and api may come after it
	given      map[string]bool
}

func (d *planDecoder) fail(n *yaml.Node, field, format string, args ...any) {
	if d.err == nil {
		d.err = &PlanError{File: d.file, Line: n.Line, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
}

// fields walks a mapping node, calling set for each known key and failing on unknown ones.
// Each key is marked given under as (the place it sets, path when empty).
func (d *planDecoder) fields(n *yaml.Node, path, as string, known []string, set func(key string, v *yaml.Node, field string)) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping of keys, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content) && d.err == nil; i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := k.Value
		if path != "" {
			field = path + "." + k.Value
		}
		if !slices.Contains(known, k.Value) {
			d.fail(k, field, "unknown field (known: %s)", strings.Join(known, ", "))
			return
		}
		if seen[k.Value] {
			d.fail(k, field, "given twice")
			return
		}
		seen[k.Value] = true
		place := cmp.Or(as, path)
		if place != "" {
			place += "."
		}
		d.given[place+k.Value] = true
		set(k.Value, v, field)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	default:
		return strconv.Quote(n.Value)
	}
}

func (d *planDecoder) top(n *yaml.Node, pf *PlanFile) {
	p := &pf.Plan
	d.fields(n, "", "", []string{"url", "api", "seed", "warmup", "timeout", "first_byte_timeout", "stall_timeout", "defaults", "stages", "mix"},
		func(key string, v *yaml.Node, field string) {
			switch key {
			case "url":
				pf.URL = d.str(v, field)
			case "api":
				// Applies to every template that names none.
				d.defaultAPI = d.str(v, field)
				if _, err := api.ParseAPI(d.defaultAPI); err != nil {
					d.fail(v, field, "%v", err)
				}
			case "seed":
				p.Seed = uint64(d.int(v, field, 0))
			case "warmup":
				p.Warmup = d.int(v, field, 0)
			case "timeout":
				p.Timeout = results.Duration(d.duration(v, field))
			case "first_byte_timeout":
				p.FirstByteTimeout = results.Duration(d.duration(v, field))
			case "stall_timeout":
				p.StallTimeout = results.Duration(d.duration(v, field))
			case "defaults":
				d.defaults = v
			case "stages":
				if v.Kind != yaml.SequenceNode {
					d.fail(v, field, "want a list of stages")
					return
				}
				for i, sn := range v.Content {
					p.Stages = append(p.Stages, d.stage(sn, fmt.Sprintf("stages[%d]", i)))
				}
			case "mix":
				d.mixNode = v
			}
		})
	if d.err != nil {
		return
	}
	if d.mixNode == nil {
		d.fail(n, "mix", "missing: a plan needs at least one request template")
		return
	}
	if d.mixNode.Kind != yaml.SequenceNode {
		d.fail(d.mixNode, "mix", "want a list of request templates")
		return
	}
	for i, tn := range d.mixNode.Content {
		t := &results.Template{API: d.defaultAPI, Stream: true}
		if d.defaults != nil {
			d.template(d.defaults, "defaults", fmt.Sprintf("mix[%d]", i), t)
		}
		d.template(tn, fmt.Sprintf("mix[%d]", i), "", t)
		p.Mix = append(p.Mix, t)
	}
	if len(p.Stages) == 0 && d.err == nil {
		d.fail(n, "stages", "missing: a plan needs at least one stage")
	}
}

func (d *planDecoder) stage(n *yaml.Node, path string) results.Stage {
	var s results.Stage
	d.fields(n, path, "", []string{"name", "concurrency", "rate", "arrival", "max_concurrency", "requests", "duration"},
		func(key string, v *yaml.Node, field string) {
			switch key {
			case "name":
				s.Name = d.str(v, field)
			case "concurrency":
				s.Concurrency = d.int(v, field, 1)
			case "rate":
				s.Rate = d.float(v, field)
				if s.Rate <= 0 {
					d.fail(v, field, "must be a positive number of requests per second")
				}
			case "arrival":
				s.Arrival = results.Arrival(d.str(v, field))
				if s.Arrival != results.ArrivalConstant && s.Arrival != results.ArrivalPoisson {
					d.fail(v, field, "must be constant or poisson, got %q", v.Value)
				}
			case "max_concurrency":
				s.MaxConcurrency = d.int(v, field, 1)
			case "requests":
				s.Requests = d.int(v, field, 1)
			case "duration":
				s.Duration = results.Duration(d.duration(v, field))
			}
		})
	return s
}

// template decodes a mix entry (or the defaults) into t; as is the entry's place, for Given.
func (d *planDecoder) template(n *yaml.Node, path, as string, t *results.Template) {
	d.fields(n, path, as, []string{"name", "weight", "api", "model", "prompt", "prompt_file", "synthetic_words", "body_file", "max_tokens", "stream", "options", "extra_body",
		"input_words", "output_tokens", "shared_prefix_words", "fixed_output"},
		func(key string, v *yaml.Node, field string) {
			switch key {
			case "name":
				t.Name = d.str(v, field)
			case "weight":
				t.Weight = d.float(v, field)
				if t.Weight <= 0 {
					d.fail(v, field, "must be a positive number")
				}
			case "api":
				t.API = d.str(v, field)
				if _, err := api.ParseAPI(t.API); err != nil {
					d.fail(v, field, "%v", err)
				}
			case "model":
				t.Model = d.str(v, field)
			case "prompt":
				t.Prompt = d.str(v, field)
			case "prompt_file":
				t.PromptFile = d.str(v, field)
			case "synthetic_words":
				t.SyntheticWords = d.int(v, field, 1)
			case "body_file":
				t.BodyFile = d.str(v, field)
			case "max_tokens":
				t.MaxTokens = d.int(v, field, 0)
			case "stream":
				t.Stream = d.bool(v, field)
			case "fixed_output":
				t.FixedOutput = d.bool(v, field)
			case "input_words":
				t.InputWords = d.str(v, field)
			case "output_tokens":
				t.OutputTokens = d.str(v, field)
			case "shared_prefix_words":
				t.SharedPrefixWords = d.int(v, field, 0)
			case "options":
				var m map[string]any
				if v.Kind != yaml.MappingNode || v.Decode(&m) != nil {
					d.fail(v, field, "must be a mapping of option names to values")
					return
				}
				if t.Options == nil {
					t.Options = map[string]any{}
				}
				for k, val := range m {
					t.Options[k] = val
				}
			case "extra_body":
				var m map[string]any
				if v.Kind != yaml.MappingNode || v.Decode(&m) != nil {
					d.fail(v, field, "must be a mapping of field names to values")
					return
				}
				if t.ExtraBody == nil {
					t.ExtraBody = map[string]any{}
				}
				maps.Copy(t.ExtraBody, m)
			}
		})
}

func (d *planDecoder) bool(v *yaml.Node, field string) bool {
	var b bool
	if v.Kind != yaml.ScalarNode || v.Decode(&b) != nil {
		d.fail(v, field, "must be true or false, got %s", kindName(v))
	}
	return b
}

func (d *planDecoder) str(v *yaml.Node, field string) string {
	if v.Kind != yaml.ScalarNode {
		d.fail(v, field, "want a string, got %s", kindName(v))
		return ""
	}
	return v.Value
}

func (d *planDecoder) int(v *yaml.Node, field string, min int) int {
	var i int
	if v.Kind != yaml.ScalarNode || v.Decode(&i) != nil {
		d.fail(v, field, "want a whole number, got %s", kindName(v))
		return 0
	}
	if i < min {
		d.fail(v, field, "must be at least %d, got %d", min, i)
	}
	return i
}

func (d *planDecoder) float(v *yaml.Node, field string) float64 {
	var f float64
	if v.Kind != yaml.ScalarNode || v.Decode(&f) != nil {
		d.fail(v, field, "want a number, got %s", kindName(v))
	}
	return f
}

func (d *planDecoder) duration(v *yaml.Node, field string) time.Duration {
	if v.Kind != yaml.ScalarNode {
		d.fail(v, field, "want a duration such as 30s or 2m, got %s", kindName(v))
		return 0
	}
	dur, err := time.ParseDuration(v.Value)
	if err != nil || dur < 0 {
		d.fail(v, field, "want a duration such as 30s or 2m, got %q", v.Value)
	}
	return dur
}

// yamlErrLine digs the line number out of a yaml.v3 syntax error ("yaml: line 3: …").
func yamlErrLine(err error) int {
	msg := err.Error()
	if i := strings.Index(msg, "line "); i >= 0 {
		rest := msg[i+5:]
		j := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if j > 0 {
			n, _ := strconv.Atoi(rest[:j])
			return n
		}
	}
	return 0
}

func cleanYAMLError(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "line ") {
		msg = msg[i+2:]
	}
	return "invalid YAML: " + msg
}
