package bench

import (
	"strconv"
	"time"

	"github.com/llmload/llmload/bench/api"
	"github.com/llmload/llmload/bench/internal/jsonw"
	"github.com/llmload/llmload/bench/results"
)

// RecordLine is one request as written to the --records JSONL file: flat, in milliseconds
// relative to the run's start (at) or to the request's own send (the rest).
type RecordLine struct {
	Stage      int     `json:"stage"`
	Seq        int     `json:"seq"`
	Worker     int     `json:"worker"`
	Template   string  `json:"template"`
	Model      string  `json:"model"`
	API        string  `json:"api"`
	Stream     bool    `json:"stream"`
	IntendedMs float64 `json:"intended_ms"` // since the run's start
	SendLagMs  float64 `json:"send_lag_ms"`
	// CapWaitMs is how long an open loop's request waited for a place under its cap on
	// requests in flight (the server's saturation); send_lag_ms is the client's lag after it.
	CapWaitMs        float64  `json:"cap_wait_ms,omitempty"`
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
	NewConn          bool     `json:"new_conn,omitempty"`    // a connection was opened for it
	Reconnected      bool     `json:"reconnected,omitempty"` // sent again: its kept-alive connection was closed
}

func ms(d time.Duration) float64 { return results.Round3(float64(d) / float64(time.Millisecond)) }

// NewRecordLine flattens a record for the JSONL file.
func NewRecordLine(r *api.Record, runStart time.Time) RecordLine {
	var l RecordLine
	l.fill(r, runStart, new([4]float64))
	return l
}

// fill flattens r into l; the server timings point into server.
func (l *RecordLine) fill(r *api.Record, runStart time.Time, server *[4]float64) {
	late := max(0, r.Sent.Sub(r.Intended))
	var capWait time.Duration
	if r.Placed.After(r.Intended) {
		capWait = r.Placed.Sub(r.Intended)
	}
	*l = RecordLine{
		Stage: r.Stage, Seq: r.Seq, Worker: r.Worker, Template: r.Template,
		Model: r.Model, API: string(r.API), Stream: r.Stream,
		IntendedMs: ms(r.Intended.Sub(runStart)), SendLagMs: ms(max(0, late-capWait)), CapWaitMs: ms(capWait),
		E2EMs: ms(late + r.Done), ServiceMs: ms(r.Done), HeadersMs: ms(r.Headers),
		Status: r.Status, Class: string(r.Class), Error: r.Error,
		OutputTokens: r.OutputTokens, TokensFromServer: r.TokensFromServer, PromptTokens: r.PromptTokens,
		Chunks: max(r.Chunks, len(r.TokenTimes)), DoneReason: r.DoneReason, BytesIn: r.BytesIn,
		NewConn: r.NewConn, Reconnected: r.Reconnected,
	}
	if len(r.TokenTimes) > 0 {
		l.TTFTMs = ms(r.FirstToken)
	}
	if s := r.Server; s != nil {
		*server = [4]float64{ms(s.Total), ms(s.Load), ms(s.PromptEval), ms(s.Eval)}
		l.TotalMs, l.LoadMs, l.PromptEvalMs, l.EvalMs = &server[0], &server[1], &server[2], &server[3]
	}
}

// AppendJSON appends the line as json.Encoder writes it (HTML-safe escaping, a newline at the
// end), byte for byte, without reflection: at tens of thousands of requests a second the
// records file must not be what slows the collector. A value encoding/json cannot encode (a
// NaN) makes it return ok=false and leaves the line to encoding/json.
func (l *RecordLine) AppendJSON(b []byte) (out []byte, ok bool) {
	b = append(b, `{"stage":`...)
	b = strconv.AppendInt(b, int64(l.Stage), 10)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, int64(l.Seq), 10)
	b = append(b, `,"worker":`...)
	b = strconv.AppendInt(b, int64(l.Worker), 10)
	b = append(b, `,"template":`...)
	b = jsonw.AppendString(b, l.Template)
	b = append(b, `,"model":`...)
	b = jsonw.AppendString(b, l.Model)
	b = append(b, `,"api":`...)
	b = jsonw.AppendString(b, l.API)
	b = append(b, `,"stream":`...)
	b = strconv.AppendBool(b, l.Stream)
	ok = true
	float := func(name string, f float64, omitEmpty bool) {
		if omitEmpty && f == 0 {
			return
		}
		b = append(b, name...)
		var good bool
		b, good = jsonw.AppendFloat(b, f)
		ok = ok && good
	}
	float(`,"intended_ms":`, l.IntendedMs, false)
	float(`,"send_lag_ms":`, l.SendLagMs, false)
	float(`,"cap_wait_ms":`, l.CapWaitMs, true)
	float(`,"e2e_ms":`, l.E2EMs, false)
	float(`,"service_ms":`, l.ServiceMs, false)
	float(`,"headers_ms":`, l.HeadersMs, true)
	float(`,"ttft_ms":`, l.TTFTMs, true)
	if l.Status != 0 {
		b = append(b, `,"status":`...)
		b = strconv.AppendInt(b, int64(l.Status), 10)
	}
	b = append(b, `,"class":`...)
	b = jsonw.AppendString(b, l.Class)
	if l.Error != "" {
		b = append(b, `,"error":`...)
		b = jsonw.AppendString(b, l.Error)
	}
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(l.OutputTokens), 10)
	b = append(b, `,"tokens_from_server":`...)
	b = strconv.AppendBool(b, l.TokensFromServer)
	if l.PromptTokens != 0 {
		b = append(b, `,"prompt_tokens":`...)
		b = strconv.AppendInt(b, int64(l.PromptTokens), 10)
	}
	b = append(b, `,"chunks":`...)
	b = strconv.AppendInt(b, int64(l.Chunks), 10)
	if l.DoneReason != "" {
		b = append(b, `,"done_reason":`...)
		b = jsonw.AppendString(b, l.DoneReason)
	}
	for _, p := range []struct {
		name string
		v    *float64
	}{{`,"total_duration_ms":`, l.TotalMs}, {`,"load_duration_ms":`, l.LoadMs}, {`,"prompt_eval_duration_ms":`, l.PromptEvalMs}, {`,"eval_duration_ms":`, l.EvalMs}} {
		if p.v != nil {
			float(p.name, *p.v, false)
		}
	}
	b = append(b, `,"bytes_in":`...)
	b = strconv.AppendInt(b, l.BytesIn, 10)
	if l.NewConn {
		b = append(b, `,"new_conn":true`...)
	}
	if l.Reconnected {
		b = append(b, `,"reconnected":true`...)
	}
	return append(b, "}\n"...), ok
}
