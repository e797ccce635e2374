package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

const (
	userAgent = "llmload"
	// maxErrorText is how much error text a Record keeps.
	maxErrorText = 300
	// maxErrorBody is how much of an error response is read for its message.
	maxErrorBody = 64 << 10
	// maxPrealloc caps the TokenTimes capacity reserved from MaxTokens up front.
	maxPrealloc = 4096
)

// Client sends Requests to one server and turns each reply into a Record.
//
// HTTP should carry a transport from NewTransport sized for the run's concurrency: requests to
// a plain-http server then take the transport's own HTTP/1.1 path, and on Linux a chunk's
// arrival time is the kernel's receive time (see arrivalClock). When HTTP is nil every request
// gets a fresh connection through net/http (correct, but it measures connection setup too).
// Header is sent with every request (API keys) and is never copied into a Record or an error.
// Each timeout is disabled when zero: FirstByteTimeout runs from Sent to the first body byte
// (it covers the server's queue, since Ollama sends headers only with the first chunk),
// StallTimeout is the longest silence after that, TotalTimeout bounds the whole request.
type Client struct {
	BaseURL          string
	HTTP             *http.Client
	Header           http.Header
	FirstByteTimeout time.Duration
	StallTimeout     time.Duration
	TotalTimeout     time.Duration
	// MaxLine bounds a reply's line, SSE event and whole stream:false document; past it the
	// reply is malformed. 0 = DefaultMaxLine.
	MaxLine int
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	t := NewTransport(1)
	t.DisableKeepAlives = true // nothing keeps this transport, so it must not keep connections
	return &http.Client{Transport: t}
}

// endpoint joins the base URL and a path. A base URL ending in /v1 (as OpenAI clients are
// usually configured) is accepted: the paths already carry it.
func (c *Client) endpoint(path string) string {
	base := strings.TrimRight(c.BaseURL, "/")
	base = strings.TrimSuffix(base, "/v1")
	return base + path
}

// Do sends one request and returns its Record; it never returns nil and never panics on what
// a server sends. Every field is filled except the runner's (Intended, Stage, Seq, Worker,
// Template). A cancelled ctx gives ClassCancelled with what arrived until then. Record.Stream
// is whether a stream was asked for: for a RawBody, its "stream" field (see ExpectStream).
// Server token counts are used only when the reply completed; a failed one counts its chunks.
//
// With a Transport from NewTransport and a plain-http base URL, the request takes the
// Transport's own HTTP/1.1 path; otherwise net/http carries it.
func (c *Client) Do(ctx context.Context, req *Request) *Record {
	rec := &Record{}
	if req == nil {
		rec.Sent = time.Now()
		rec.Class, rec.Error = ClassRequestError, "no request"
		return rec
	}
	rec.API, rec.Model = req.API, req.Model
	rec.Stream = req.ExpectStream()
	body, err := req.Body()
	if err != nil {
		rec.Sent = time.Now()
		rec.Class, rec.Error = ClassRequestError, c.clean(err.Error())
		return rec
	}
	if rec.Stream && req.MaxTokens > 0 {
		rec.TokenTimes = make([]time.Duration, 0, min(req.MaxTokens, maxPrealloc)+1)
	}
	if t := c.ownTransport(); t != nil {
		if tg := t.target(c, req.API); tg.ok {
			c.doOwn(ctx, t, tg, req, rec, body)
			return rec
		}
	}
	c.doNetHTTP(ctx, req, rec, body)
	return rec
}

// ownTransport returns the Transport whose own path can carry this Client's requests, or nil
// when the http.Client asks for what only net/http does (cookies, a client-wide timeout).
func (c *Client) ownTransport() *Transport {
	hc := c.HTTP
	if hc == nil || hc.Jar != nil || hc.Timeout != 0 {
		return nil
	}
	t, ok := hc.Transport.(*Transport)
	if !ok || t == nil || t.Transport == nil || t.Proxy != nil {
		return nil
	}
	return t
}

// netWatchdog starts the request's clock and a watchdog that cancels reqCtx with the cause.
func (c *Client) netWatchdog(rec *Record, cancel context.CancelCauseFunc) *watchdog {
	wd := &watchdog{onTimeout: func(te *timeoutError) { cancel(te) }}
	rec.Sent = time.Now()
	wd.arm(rec.Sent, c.FirstByteTimeout, c.StallTimeout, c.TotalTimeout)
	return wd
}

// doNetHTTP sends the request through net/http. net/http sends a POST again by itself only
// when nothing of it was written; one that was written on a kept-alive connection the server
// had closed fails with EOF, and is sent once more here, as on the own path.
func (c *Client) doNetHTTP(ctx context.Context, req *Request, rec *Record, body []byte) {
	reqCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var reused bool
	traced := httptrace.WithClientTrace(reqCtx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
	})
	newRequest := func() (*http.Request, error) {
		hreq, err := http.NewRequestWithContext(traced, http.MethodPost, c.endpoint(req.API.Path()), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		hreq.Header.Set("Content-Type", "application/json")
		hreq.Header.Set("User-Agent", userAgent)
		for k, v := range c.Header {
			hreq.Header[k] = v
		}
		return hreq, nil
	}
	hreq, err := newRequest()
	if err != nil {
		rec.Sent = time.Now()
		rec.Class, rec.Error = ClassRequestError, c.clean("build request: "+unwrapURL(err).Error())
		return
	}

	wd := c.netWatchdog(rec, cancel)
	defer wd.stop()
	resp, err := c.httpClient().Do(hreq)
	if err != nil && reused && staleConn(unwrapURL(err)) && wd.cause.Load() == nil && ctx.Err() == nil {
		rec.Reconnected = true
		if hreq, err = newRequest(); err == nil {
			resp, err = c.httpClient().Do(hreq)
		}
	}
	if err != nil {
		rec.Done = time.Since(rec.Sent)
		rec.Class, rec.Error = c.failure(ctx, wd, err, "send request")
		return
	}
	defer resp.Body.Close()
	rec.NewConn = !reused
	rec.Headers = time.Since(rec.Sent)
	rec.Status = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		c.readHTTPError(ctx, rec, resp.Body, wd)
		return
	}
	lr := newLineReader(resp.Body, wd)
	lr.max = c.MaxLine
	c.readReply(ctx, rec, req, lr, formatOf(resp.Header.Get("Content-Type"), req.API, rec.Stream), wd)
}

// doOwn sends the request on the Transport's own HTTP/1.1 path. No context, timer or closure
// is made per request: the connection's watchdog aborts the connection when a timeout passes,
// and the connection is bound to ctx (see h1Conn.bind) so that cancelling ctx aborts it too.
//
// A request whose write or head read fails on a reused connection before any byte of a reply
// arrived is sent once more on a new connection (see staleConn); its clock keeps running from
// the first send, so the lost attempt counts in its latency.
func (c *Client) doOwn(ctx context.Context, t *Transport, tg *target, req *Request, rec *Record, body []byte) {
	rec.Sent = time.Now()
	if err := ctx.Err(); err != nil {
		rec.Class, rec.Error = ClassCancelled, "cancelled: "+context.Cause(ctx).Error()
		return
	}
	limit := c.dialLimit()
	cn, reused, err := t.getConn(ctx, tg.addr, rec.Sent, limit, false)
	var head h1Head
	var closeConn bool
	for {
		if err != nil {
			rec.Done = time.Since(rec.Sent)
			rec.Class, rec.Error = c.dialFailure(ctx, err)
			return
		}
		cn.wd.arm(rec.Sent, c.FirstByteTimeout, c.StallTimeout, c.TotalTimeout)
		closeConn, err = cn.buildRequest(tg, c.Header, body, t.DisableKeepAlives)
		if err != nil {
			cn.wd.stop()
			cn.close()
			rec.Done = time.Since(rec.Sent)
			rec.Class, rec.Error = ClassRequestError, c.clean("build request: "+err.Error())
			return
		}
		cn.arrived = rec.Sent
		rx := cn.rx
		if _, err = cn.nc.Write(cn.wbuf); err == nil {
			err = cn.readHead(&head)
		}
		if err == nil {
			break
		}
		cn.wd.stop()
		cn.close()
		if !reused || cn.rx != rx || !staleConn(err) || cn.wd.cause.Load() != nil || ctx.Err() != nil {
			rec.Done = time.Since(rec.Sent)
			rec.Class, rec.Error = c.failure(ctx, &cn.wd, err, "send request")
			return
		}
		rec.Reconnected = true
		cn, reused, err = t.getConn(ctx, tg.addr, rec.Sent, limit, true)
	}
	rec.NewConn = !reused
	wd := &cn.wd
	rec.Headers = cn.arrived.Sub(rec.Sent)
	rec.Status = head.status
	b := &cn.body
	b.init(cn, &head)
	if head.status < 200 || head.status > 299 {
		c.readHTTPError(ctx, rec, b, wd)
	} else {
		lr := &cn.lines
		*lr = lineReader{src: b, buf: lr.buf, wd: wd, arrivals: b, max: c.MaxLine}
		if len(lr.buf) == 0 {
			lr.buf = make([]byte, lineBufSize)
		}
		c.readReply(ctx, rec, req, lr, formatOf(string(cn.ctype), req.API, rec.Stream), wd)
	}
	wd.stop()
	if b.clean && head.keepAlive && !closeConn && cn.r == cn.w && ctx.Err() == nil && wd.cause.Load() == nil {
		cn.release()
		t.putConn(tg.addr, cn)
	} else {
		cn.close()
	}
}

// staleConn reports whether a request failed the way a request on a kept-alive connection the
// server had already closed fails: the write is refused, or the read ends or is reset before
// any reply. Such a request never reached the server (servers that close after each reply
// without "Connection: close" make this common: llama.cpp's llama-server after a stream), so
// sending it again is neither a retry of a failure nor a duplicate.
func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED)
}

// dialLimit bounds a new connection for the own path: the first byte cannot come later than
// the first-byte and total timeouts allow, so a dial that outlasts the nearer one fails as
// that timeout. A zero after means no bound beyond the dialer's own.
func (c *Client) dialLimit() timeoutError {
	switch {
	case c.FirstByteTimeout > 0 && (c.TotalTimeout <= 0 || c.FirstByteTimeout <= c.TotalTimeout):
		return timeoutError{class: ClassTimeoutFirstByte, after: c.FirstByteTimeout}
	case c.TotalTimeout > 0:
		return timeoutError{class: ClassTimeoutTotal, after: c.TotalTimeout}
	}
	return timeoutError{}
}

// dialFailure classifies a failure to get a connection: a dial cut short by the first-byte or
// total timeout counts as that timeout.
func (c *Client) dialFailure(ctx context.Context, err error) (Class, string) {
	var te *timeoutError
	if errors.As(err, &te) {
		return te.class, te.Error()
	}
	return c.failure(ctx, nil, err, "send request")
}

// readReply reads a 2xx body and settles the record.
func (c *Client) readReply(ctx context.Context, rec *Record, req *Request, lr *lineReader, format bodyFormat, wd *watchdog) {
	sr := newStreamReader(rec, rec.Sent, format)
	readErr := sr.read(lr)
	wd.stop()
	c.settleBody(rec, lr)
	class, text := sr.verdict()
	var tl *tooLongError
	if errors.As(readErr, &tl) && sr.fail == "" {
		rec.Done = time.Since(rec.Sent)
		class, text, readErr = ClassMalformed, "malformed reply: "+tl.Error(), nil
	}
	if readErr != nil && !sr.complete && sr.fail == "" {
		rec.Done = time.Since(rec.Sent)
		class, text = c.failure(ctx, wd, readErr, "read body")
	}
	rec.Class, rec.Error = class, c.clean(text)
	sr.settleTokens()
	if rec.Class != ClassOK {
		// Timings that came before the reply failed (llama-server sends them before [DONE])
		// describe a reply that did not complete: no figure is taken from it.
		rec.Server = nil
	}
	if s := rec.Server; s != nil && s.FromLlamaServer {
		s.Total = rec.Done // llama-server reports no total: the service time llmload measured
	}
}

// settleBody fills what the line reader saw: bytes, first byte, last byte.
func (c *Client) settleBody(rec *Record, lr *lineReader) {
	rec.BytesIn = lr.n
	rec.Done = rec.Headers
	if lr.n > 0 {
		rec.FirstByte = lr.first.Sub(rec.Sent)
		rec.Done = lr.at.Sub(rec.Sent)
	}
}

// readHTTPError classifies a non-2xx reply by its status and keeps the server's message.
func (c *Client) readHTTPError(ctx context.Context, rec *Record, body io.Reader, wd *watchdog) {
	lr := newLineReader(io.LimitReader(body, maxErrorBody), wd)
	data, _, err := lr.all()
	wd.stop()
	c.settleBody(rec, lr)
	rec.Class = statusClass(rec.Status)
	msg := errorText(data)
	if msg == "" {
		msg = http.StatusText(rec.Status)
	}
	text := fmt.Sprintf("HTTP %d: %s", rec.Status, msg)
	if err != nil {
		rec.Done = time.Since(rec.Sent)
		_, why := c.failure(ctx, wd, err, "read error body")
		text += " (" + why + ")"
	}
	rec.Error = c.clean(text)
}

func statusClass(code int) Class {
	switch {
	case code == http.StatusNotFound:
		return ClassNotFound
	case code == http.StatusBadRequest:
		return ClassBadRequest
	case code == http.StatusServiceUnavailable:
		return ClassBusy
	case code >= 400 && code < 500:
		return ClassHTTP4xx
	case code >= 500 && code < 600:
		return ClassHTTP5xx
	}
	return ClassHTTPOther
}

// failure classifies a transport error. The watchdog's cause says whether one of the Client's
// own timeouts fired; the caller's context says whether the caller cancelled.
func (c *Client) failure(ctx context.Context, wd *watchdog, err error, op string) (Class, string) {
	if wd != nil {
		if te := wd.cause.Load(); te != nil {
			return te.class, te.Error()
		}
	}
	if ctx.Err() != nil {
		return ClassCancelled, "cancelled: " + context.Cause(ctx).Error()
	}
	err = unwrapURL(err)
	if errors.Is(err, syscall.ECONNREFUSED) {
		return ClassConnRefused, op + ": " + err.Error()
	}
	return ClassNetwork, op + ": " + err.Error()
}

// unwrapURL drops net/http's *url.Error wrapper: it repeats the method and URL (which may hold
// credentials) in front of the cause.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		return ue.Err
	}
	return err
}

// errorText extracts the message from an error body: Ollama's {"error":"…"}, OpenAI's
// {"error":{"message":"…"}}, a bare {"message":"…"} (vLLM's older shape), or the text itself.
func errorText(body []byte) string {
	body = bytes.TrimSpace(body)
	var e struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(body, &e) == nil {
		if len(e.Error) > 0 && string(e.Error) != "null" {
			var s string
			if json.Unmarshal(e.Error, &s) == nil {
				return s
			}
			var o struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(e.Error, &o) == nil && o.Message != "" {
				return o.Message
			}
			return string(e.Error)
		}
		if e.Message != "" {
			return e.Message
		}
		if len(e.Detail) > 0 && string(e.Detail) != "null" {
			var s string
			if json.Unmarshal(e.Detail, &s) == nil {
				return s
			}
			return string(e.Detail)
		}
	}
	return string(body)
}

// minSecretLen keeps redaction from mangling text around trivially short header values.
const minSecretLen = 4

// clean removes every header value the Client sends (and any password in the base URL) from
// text bound for a Record, then truncates it. A server may echo a request header in its error.
func (c *Client) clean(text string) string {
	if text == "" {
		return ""
	}
	for _, vals := range c.Header {
		for _, v := range vals {
			text = redact(text, v)
			for _, f := range strings.Fields(v) { // "Bearer sk-…": the token alone too
				text = redact(text, f)
			}
		}
	}
	if u, err := url.Parse(c.BaseURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			text = redact(text, p)
		}
	}
	return truncateText(text, maxErrorText)
}

func redact(text, secret string) string {
	if len(secret) < minSecretLen {
		return text
	}
	return strings.ReplaceAll(text, secret, "[redacted]")
}

// truncateText cuts s to at most n bytes on a rune boundary, marking the cut.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
