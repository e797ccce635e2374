package bench

import (
	"time"

	"github.com/llmload/llmload/bench/api"
)

// RecordLine is one request as written to the --records JSONL file: flat, in milliseconds
// relative to the run's start (at) or to the request's own send (the rest).
type RecordLine struct {
	Stage            int      `json:"stage"`
	Seq              int      `json:"seq"`
	Worker           int      `json:"worker"`
	Template         string   `json:"template"`
	Model            string   `json:"model"`
	API              string   `json:"api"`
	Stream           bool     `json:"stream"`
	IntendedMs       float64  `json:"intended_ms"` // since the run's start
	SendLagMs        float64  `json:"send_lag_ms"`
	E2EMs            float64  `json:"e2e_ms"`
	ServiceMs        float64  `json:"service_ms"`
	HeadersMs        float64  `json:"headers_ms,omitempty"`
	TTFTMs           float64  `json:"ttft_ms,omitempty"`
	Status           int      `json:"status,omitempty"`
	Class            string   `json:"class"`
	Error            string   `json:"error,omitempty"`
	OutputTokens     int      `json:"output_tokens"`
	TokensFromServer bool     `json:"tokens_from_server"`
	PromptTokens     int      `json:"prompt_tokens,omitempty"`
	Chunks           int      `json:"chunks"`
	DoneReason       string   `json:"done_reason,omitempty"`
	TotalMs          *float64 `json:"total_duration_ms,omitempty"`
	LoadMs           *float64 `json:"load_duration_ms,omitempty"`
	PromptEvalMs     *float64 `json:"prompt_eval_duration_ms,omitempty"`
	EvalMs           *float64 `json:"eval_duration_ms,omitempty"`
	BytesIn          int64    `json:"bytes_in"`
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

// NewRecordLine flattens a record for the JSONL file.
func NewRecordLine(r *api.Record, runStart time.Time) RecordLine {
	lag := max(0, r.Sent.Sub(r.Intended))
	l := RecordLine{
		Stage: r.Stage, Seq: r.Seq, Worker: r.Worker, Template: r.Template,
		Model: r.Model, API: string(r.API), Stream: r.Stream,
		IntendedMs: ms(r.Intended.Sub(runStart)), SendLagMs: ms(lag),
		E2EMs: ms(lag + r.Done), ServiceMs: ms(r.Done), HeadersMs: ms(r.Headers),
		Status: r.Status, Class: string(r.Class), Error: r.Error,
		OutputTokens: r.OutputTokens, TokensFromServer: r.TokensFromServer, PromptTokens: r.PromptTokens,
		Chunks: len(r.TokenTimes), DoneReason: r.DoneReason, BytesIn: r.BytesIn,
	}
	if len(r.TokenTimes) > 0 {
		l.TTFTMs = ms(r.FirstToken)
	}
	if s := r.Server; s != nil {
		f := func(d time.Duration) *float64 { v := ms(d); return &v }
		l.TotalMs, l.LoadMs, l.PromptEvalMs, l.EvalMs = f(s.Total), f(s.Load), f(s.PromptEval), f(s.Eval)
	}
	return l
}
