package bench

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/llmload/llmload/bench/results"
)

// encodeRef is the records file's reference encoding: json.Encoder's.
func encodeRef(t testing.TB, l RecordLine) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(l); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var trickyStrings = []string{"", "ok", "a\"b\\c", "<html>&amp;</html>", "tab\there\nnl\r\b\f\x00\x1f\x7f",
	"é ü 日本", "\u2028\u2029", "bad \xff\xfe utf8", "\xed\xa0\x80 surrogate", "HTTP 503: server busy"}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	floats := []float64{0, 1, -1, 0.001, 0.0005, 1e-7, 123456.789, 1e21, 1e20, 5e-324, math.MaxFloat64, 12.345, 0.1 + 0.2}
	f := func() float64 {
		if rng.IntN(3) == 0 {
			return floats[rng.IntN(len(floats))]
		}
		return results.Round3(rng.Float64() * math.Pow(10, float64(rng.IntN(9)-3)))
	}
	s := func() string { return trickyStrings[rng.IntN(len(trickyStrings))] }
	for i := range 5000 {
		l := RecordLine{
			Stage: rng.IntN(4), Seq: rng.IntN(1 << 20), Worker: rng.IntN(300) - 1, Template: s(), Model: s(), API: s(),
			Stream: rng.IntN(2) == 0, IntendedMs: f(), SendLagMs: f(), E2EMs: f(), ServiceMs: f(), HeadersMs: f(), TTFTMs: f(),
			Status: []int{0, 200, 503}[rng.IntN(3)], Class: s(), Error: s(), OutputTokens: rng.IntN(5000), TokensFromServer: rng.IntN(2) == 0,
			PromptTokens: rng.IntN(3), Chunks: rng.IntN(100), DoneReason: s(), BytesIn: rng.Int64N(1 << 40),
			NewConn: rng.IntN(2) == 0, Reconnected: rng.IntN(2) == 0,
		}
		if i%2 == 0 {
			v := []float64{f(), f(), f(), f()}
			l.TotalMs, l.LoadMs, l.PromptEvalMs, l.EvalMs = &v[0], &v[1], &v[2], &v[3]
		}
		got, ok := l.AppendJSON(nil)
		if want := encodeRef(t, l); !ok || !bytes.Equal(got, want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
	}
	nan := RecordLine{E2EMs: math.NaN()}
	if _, ok := nan.AppendJSON(nil); ok {
		t.Error("NaN encoded")
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range trickyStrings {
		f.Add(s, 1.5)
	}
	f.Fuzz(func(t *testing.T, s string, x float64) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		l := RecordLine{Error: s, Model: s, E2EMs: x, TTFTMs: x, ServiceMs: results.Round3(x), SendLagMs: -results.Round3(x)}
		got, ok := l.AppendJSON(nil)
		if want := encodeRef(t, l); !ok || !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}
