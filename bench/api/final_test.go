package api

import (
	"encoding/json"
	"testing"
)

var finalSeeds = []string{
	`{"model":"m","created_at":"2026-01-01T00:00:00Z","response":"","done":true,"done_reason":"stop","context":[1,2,3],"total_duration":40701538,"load_duration":2170913,"prompt_eval_count":8,"prompt_eval_duration":5031000,"eval_count":8,"eval_duration":32874000}`,
	`{"done":true,"done_reason":"load"}`,
	`{"done":true,"total_duration":null,"eval_count":null,"load_duration":null}`,
	`{"done":true,"total_duration":1,"total_duration":null}`,
	`{"done":true,"eval_count":1e3}`,
	`{"done":true,"eval_count":1.0}`,
	`{"done":true,"eval_count":-0}`,
	`{"done":true,"total_duration":"soon"}`,
	`{"done":true,"done_reason":5}`,
	`{"done":true,"done_reason":"st\u006fp"}`,
	`{"done":true,"Total_Duration":7,"EVAL_COUNT":2}`,
	`{"done":true,"total_duration":9223372036854775807,"load_duration":-9223372036854775808}`,
	`{"done":true,"total_duration":9223372036854775808}`,
	`{"done":true,"eval_duration":{"a":1}}`,
	`{"done":true,"t\u006ftal_duration":3}`,
	` { "done" : true , "eval_count" : 2 } `,
	`{"done":true,"done_reason":"stop","total_duration":1,"prompt_eval_count":9,"prompt_eval_cached_count":8,"prompt_eval_cached_count":null}`,
	`{"done":true,"prompt_eval_cached_count":7,"Prompt_Eval_Cached_Count":2}`,
}

// FuzzOllamaFinal checks the fast final-chunk decoder against encoding/json itself.
func FuzzOllamaFinal(f *testing.F) {
	for _, s := range finalSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// The single-pass scan of a chunk agrees wherever it does not defer to encoding/json.
		var fs finalScan
		if _, err := scanOllamaLine(b, &fs); err == nil && !fs.slow {
			want, err := decodeOllamaFinal(b)
			if err != nil || fs.finalChunk != want {
				t.Fatalf("%q: chunk scan %+v, decode %+v (%v)", b, fs.finalChunk, want, err)
			}
		}
		got, err := decodeOllamaFinal(b)
		var j ollamaFinal
		jerr := json.Unmarshal(b, &j)
		if (err == nil) != (jerr == nil) {
			t.Fatalf("%q: error %v, encoding/json %v", b, err, jerr)
		}
		if err != nil {
			return
		}
		want := finalChunk{DoneReason: j.DoneReason, Load: j.LoadDuration, PromptEval: j.PromptEvalDuration, Eval: j.EvalDuration}
		if j.TotalDuration != nil {
			want.Total, want.HasTotal = *j.TotalDuration, true
		}
		if j.PromptEvalCount != nil {
			want.PromptCount, want.HasPromptCount = *j.PromptEvalCount, true
		}
		if j.EvalCount != nil {
			want.EvalCount, want.HasEvalCount = *j.EvalCount, true
		}
		if j.CachedCount != nil {
			want.CachedCount = *j.CachedCount
		}
		if got != want {
			t.Fatalf("%q: %+v, encoding/json %+v", b, got, want)
		}
	})
}

func TestFinalFastPathAllocs(t *testing.T) {
	b := []byte(finalSeeds[0])
	if _, ok := scanOllamaFinal(b); !ok {
		t.Fatal("a plain final chunk left the fast path")
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = decodeOllamaFinal(b) }); n != 0 {
		t.Errorf("%v allocations per final chunk", n)
	}
}
