package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestGauges(t *testing.T) {
	body := `# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 40
# HELP llamacpp:requests_processing Number of requests processing
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 2
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 3
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="a"} 1
vllm:num_requests_waiting{engine="1",model_name="b, c} d"} 4 1700000000
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="a"} NaN
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1e9
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	got, err := testClient(srv).Gauges(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"llamacpp:requests_processing": 2, "llamacpp:requests_deferred": 3, "vllm:num_requests_waiting": 5}
	if len(got) != len(want) {
		t.Errorf("gauges %v, want %v (counters, NaN and other servers' gauges left out)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}

	// Ollama has no /metrics: an error, not an empty success.
	if _, err := testClient(ollamaMux(t)).Gauges(context.Background()); err == nil {
		t.Error("a server without /metrics gave no error")
	}
}
