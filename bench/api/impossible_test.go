package api

import (
	"context"
	"strings"
	"testing"
)

// Counts and durations no server measured are refused as malformed, alike on both protocols:
// summed over a run they would wrap (−28.6 tok/s) or make a share absurd.
func TestImpossibleFiguresAreMalformed(t *testing.T) {
	text := `{"response":"a","done":false}` + "\n"
	sse := func(s string) string { return "data: " + s + "\n\n" }
	delta := sse(`{"choices":[{"index":0,"delta":{"content":"a"}}]}`)
	for _, tt := range []struct {
		name, ctype string
		api         API
		body        string
		errHas      string
	}{
		{"huge eval_count", "application/x-ndjson", OllamaGenerate,
			text + `{"done":true,"total_duration":1000,"eval_count":9223372036854775807}` + "\n", "eval_count 9223372036854775807 is not a token count"},
		{"negative load_duration", "application/x-ndjson", OllamaGenerate,
			text + `{"done":true,"total_duration":1000,"load_duration":-5,"eval_count":1}` + "\n", "load_duration -5 ns"},
		{"a total of a year", "application/x-ndjson", OllamaChat,
			`{"message":{"content":"a"},"done":false}` + "\n" + `{"done":true,"total_duration":31536000000000000,"eval_count":1}` + "\n", "total_duration"},
		{"huge completion_tokens", "text/event-stream", OpenAIChat,
			delta + sse(`{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":9223372036854775807}}`) + "data: [DONE]\n\n", "usage.completion_tokens is not a token count"},
		{"negative prompt_tokens", "text/event-stream", OpenAICompletions,
			sse(`{"choices":[{"text":"a"}],"usage":{"prompt_tokens":-2,"completion_tokens":1}}`) + "data: [DONE]\n\n", "usage.prompt_tokens"},
		{"negative timings", "text/event-stream", OpenAIChat,
			delta + sse(`{"choices":[],"timings":{"prompt_n":1,"prompt_ms":-4,"predicted_n":1,"predicted_ms":2}}`) + "data: [DONE]\n\n", "timings: prompt_ms -4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := streamServer(t, tt.ctype, []string{tt.body}, 0)
			rec := testClient(srv).Do(context.Background(), &Request{API: tt.api, Model: "m", Stream: true})
			checkRecord(t, rec)
			if rec.Class != ClassMalformed || !strings.Contains(rec.Error, tt.errHas) {
				t.Errorf("class %s: %q; want malformed naming %q", rec.Class, rec.Error, tt.errHas)
			}
		})
	}
}
