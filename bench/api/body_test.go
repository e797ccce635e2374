package api

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestBody(t *testing.T) {
	opts := map[string]any{"temperature": 0, "seed": 1, "num_ctx": 2048, "top_p": 0.9, "top_k": 40, "stop": []string{"\n"}}
	tests := []struct {
		name string
		req  Request
		want string
	}{
		{"ollama generate", Request{API: OllamaGenerate, Model: "m", Prompt: "hi", MaxTokens: 8, Stream: true, Options: opts},
			`{"model":"m","prompt":"hi","stream":true,"options":{"num_ctx":2048,"num_predict":8,"seed":1,"stop":["\n"],"temperature":0,"top_k":40,"top_p":0.9}}`},
		{"ollama generate, stream false is explicit", Request{API: OllamaGenerate, Model: "m", Prompt: "hi"},
			`{"model":"m","prompt":"hi","stream":false}`},
		{"ollama generate, MaxTokens wins over num_predict", Request{API: OllamaGenerate, Model: "m", MaxTokens: -1, Options: map[string]any{"num_predict": 5}},
			`{"model":"m","prompt":"","stream":false,"options":{"num_predict":-1}}`},
		{"ollama chat", Request{API: OllamaChat, Model: "m", Prompt: "hi", MaxTokens: 8, Stream: true, Options: map[string]any{"seed": 1}},
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"options":{"num_predict":8,"seed":1}}`},
		// Every option but Ollama's runner options reaches an OpenAI server (top_k too).
		{"openai chat stream", Request{API: OpenAIChat, Model: "m", Prompt: "hi", MaxTokens: 8, Stream: true, Options: opts},
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":8,"seed":1,"stop":["\n"],"temperature":0,"top_k":40,"top_p":0.9}`},
		// keep_alive, think and format are Ollama's top-level fields, not options.
		{"ollama keep_alive at the top", Request{API: OllamaChat, Model: "m", Prompt: "hi", Options: map[string]any{"keep_alive": -1, "seed": 1, "think": false}},
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false,"options":{"seed":1},"keep_alive":-1,"think":false}`},
		// Extra fields go as given, after llmload's own, which they never replace.
		{"extra fields", Request{API: OpenAIChat, Model: "m", Prompt: "hi", MaxTokens: 4, Extra: map[string]any{"ignore_eos": true, "min_tokens": 4, "model": "not this"}},
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false,"max_tokens":4,"ignore_eos":true,"min_tokens":4}`},
		{"chat messages", Request{API: OpenAIChat, Model: "m", Prompt: "unused", Messages: []Message{{"system", "be brief"}, {"user", "hi"}}},
			`{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"stream":false}`},
		{"openai chat no stream", Request{API: OpenAIChat, Model: "m", Prompt: "hi"},
			`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false}`},
		{"openai completions", Request{API: OpenAICompletions, Model: "m", Prompt: "hi", MaxTokens: 8, Stream: true, Options: map[string]any{"num_ctx": 1}},
			`{"model":"m","prompt":"hi","stream":true,"stream_options":{"include_usage":true},"max_tokens":8}`},
		{"openai completions, empty prompt kept", Request{API: OpenAICompletions, Model: "m"},
			`{"model":"m","prompt":"","stream":false}`},
		{"raw body verbatim", Request{API: OpenAIChat, Model: "label", Prompt: "ignored", RawBody: []byte(`{"model":"x",  "stream":true}`)},
			`{"model":"x",  "stream":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := map[string]any{}
			for k, v := range tt.req.Options {
				before[k] = v
			}
			got, err := tt.req.Body()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("body\n got %s\nwant %s", got, tt.want)
			}
			if len(tt.req.RawBody) == 0 && !json.Valid(got) {
				t.Errorf("invalid JSON %s", got)
			}
			if !reflect.DeepEqual(before, map[string]any(tt.req.Options)) && tt.req.Options != nil {
				t.Errorf("options changed: %v", tt.req.Options)
			}
		})
	}
}

func TestExpectStream(t *testing.T) {
	tests := []struct {
		api    API
		stream bool
		raw    string
		want   bool
	}{
		{OllamaGenerate, true, "", true},
		{OpenAIChat, false, "", false},
		{OllamaGenerate, false, `{"model":"m","prompt":"p"}`, true}, // Ollama streams by default
		{OllamaChat, true, `{"model":"m","stream":false}`, false},
		{OpenAIChat, true, `{"model":"m"}`, false}, // OpenAI does not
		{OpenAICompletions, false, `{"model":"m","stream":true,"x":[1,{"stream":false}]}`, true},
		{OpenAIChat, false, `{"stream":"yes"}`, false},
		{OllamaGenerate, false, `not json`, true},
		{OllamaGenerate, false, `{"stream":false,"stream":true}`, true},
		{OllamaGenerate, false, `{"str\u0065am":false}`, false},
	}
	for _, tt := range tests {
		r := Request{API: tt.api, Stream: tt.stream, RawBody: []byte(tt.raw)}
		if got := r.ExpectStream(); got != tt.want {
			t.Errorf("%s stream=%v raw %s: got %v", tt.api, tt.stream, tt.raw, got)
		}
	}
}
