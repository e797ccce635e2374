package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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

// Client sends Requests to one server and turns each reply into a Record. New makes one from a
// Config and chooses, once, the HTTP stack that carries its requests (see Sender); a Client
// never changes after.
type Client struct {
	base             string
	header           http.Header
	firstByteTimeout time.Duration
	stallTimeout     time.Duration
	totalTimeout     time.Duration
	maxLine          int
	http             *http.Client
	// own is the Transport whose own path carries every POST; nil when net/http carries them.
	own *Transport
	// targets are the own path's endpoints, one per protocol (see apiIndex), parsed once.
	targets  [len(apiOrder)]target
	sender   Sender
	redactor *Redactor
}

// Config describes a Client. Each timeout is off when zero: FirstByteTimeout runs from Sent to
// the first body byte (it covers the server's queue, since Ollama sends headers only with the
// first chunk), StallTimeout is the longest silence after that, TotalTimeout bounds the whole
// request.
type Config struct {
	// BaseURL is the server's base URL. One ending in /v1 (as OpenAI clients are usually
	// configured) is accepted: the paths already carry it.
	BaseURL string
	// Header is sent with every request (API keys); it is never copied into a Record or an
	// error.
	Header           http.Header
	FirstByteTimeout time.Duration
	StallTimeout     time.Duration
	TotalTimeout     time.Duration
	// MaxConns is the most requests the caller will have in flight at once: the Transport New
	// makes keeps that many connections. Zero keeps none: every request opens and closes its
	// own (correct, but it measures connection setup too), as befits a few discovery calls.
	MaxConns int
	// Transport, when set, carries the requests instead of one New makes. An *api.Transport
	// (from NewTransport, its dialer perhaps wrapped) keeps the own HTTP/1.1 path; any other
	// RoundTripper sends every request through net/http.
	Transport http.RoundTripper
	// MaxLine bounds a reply's line, SSE event and whole stream:false document; past it the
	// reply is malformed. 0 = DefaultMaxLine.
	MaxLine int
}

// Sender says which HTTP stack carries a Client's requests, and why. The two stamp a chunk's
// arrival differently, so a run records which one measured it.
type Sender struct {
	Name   string // SenderOwn or SenderNetHTTP
	Reason string
}

// The HTTP stacks a Client may send with.
const (
	// SenderOwn is the Transport's own HTTP/1.1 path: one goroutine per request, one buffer per
	// connection, and on Linux each chunk's arrival is the kernel's receive time.
	SenderOwn = "own-http1"
	// SenderNetHTTP is the standard library's client, for what the own path does not do.
	SenderNetHTTP = "net/http"
)

// New makes a Client and chooses its sender: the own HTTP/1.1 path for a plain-http base URL
// on a Transport from NewTransport, net/http for anything else (https, credentials in the URL,
// a proxy, another transport). The choice holds for every request; Sender says what it was.
func New(cfg Config) *Client {
	c := &Client{
		base:             cfg.BaseURL,
		header:           cfg.Header,
		firstByteTimeout: cfg.FirstByteTimeout,
		stallTimeout:     cfg.StallTimeout,
		totalTimeout:     cfg.TotalTimeout,
		maxLine:          cfg.MaxLine,
		redactor:         NewRedactor(cfg.BaseURL, cfg.Header),
	}
	rt := cfg.Transport
	if t, ok := rt.(*Transport); rt == nil || (ok && (t == nil || t.Transport == nil)) {
		t := NewTransport(cfg.MaxConns)
		// Nothing keeps a connection for a client that says it needs none.
		t.DisableKeepAlives = cfg.MaxConns <= 0
		rt = t
	}
	// No redirect is followed, on either path: a redirect is the request's outcome (see
	// ClassRedirect), so nothing (a POST turned into a GET, the API key) goes elsewhere.
	c.http = &http.Client{Transport: rt, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	c.sender = c.choose(rt)
	return c
}

// choose decides once which stack sends: the own path when it can carry every request of this
// Client, net/http otherwise, and says why.
func (c *Client) choose(rt http.RoundTripper) Sender {
	t, ok := rt.(*Transport)
	if !ok {
		return Sender{SenderNetHTTP, fmt.Sprintf("the transport (%T) is not llmload's", rt)}
	}
	if t.Proxy != nil {
		return Sender{SenderNetHTTP, "the transport goes through a proxy"}
	}
	u, err := url.Parse(c.endpoint(OllamaGenerate.Path()))
	switch {
	case err != nil:
		return Sender{SenderNetHTTP, "the base URL does not parse"}
	case u.Scheme != "http":
		return Sender{SenderNetHTTP, u.Scheme + ": the own path speaks plain http only"}
	case u.User != nil:
		return Sender{SenderNetHTTP, "credentials in the URL: net/http sends them as basic auth"}
	case u.Host == "" || u.Opaque != "" || u.Fragment != "":
		return Sender{SenderNetHTTP, "the base URL has no plain host and path"}
	}
	for i, a := range apiOrder {
		u, err := url.Parse(c.endpoint(a.Path()))
		if err != nil {
			return Sender{SenderNetHTTP, "the base URL does not parse"}
		}
		port := u.Port()
		if port == "" {
			port = "80"
		}
		c.targets[i] = target{addr: net.JoinHostPort(u.Hostname(), port), host: u.Host, uri: u.RequestURI()}
	}
	c.own = t
	reason := "plain http: one goroutine and one buffer per request"
	if kernelArrival {
		reason += ", chunk arrivals from the kernel's receive time"
	}
	return Sender{SenderOwn, reason}
}

// Sender says which HTTP stack carries this Client's requests, and why.
func (c *Client) Sender() Sender { return c.sender }

// BaseURL is the base URL the Client sends to, as given (credentials included: keep it from
// anything that is written).
func (c *Client) BaseURL() string { return c.base }

// CloseIdleConnections closes the connections the Client keeps, on both paths.
func (c *Client) CloseIdleConnections() {
	if t, ok := c.http.Transport.(*Transport); ok {
		t.CloseIdleConnections()
		return
	}
	c.http.CloseIdleConnections()
}

// apiOrder is the order of Client.targets.
var apiOrder = [...]API{OllamaGenerate, OllamaChat, OpenAIChat, OpenAICompletions}

// apiIndex is a protocol's place in apiOrder; an unknown one posts where Path sends it, to
// Ollama's generate endpoint.
func apiIndex(a API) int {
	switch a {
	case OllamaChat:
		return 1
	case OpenAIChat:
		return 2
	case OpenAICompletions:
		return 3
	}
	return 0
}

// endpoint joins the base URL and a path. A base URL ending in /v1 (as OpenAI clients are
// usually configured) is accepted: the paths already carry it.
func (c *Client) endpoint(path string) string {
	base := strings.TrimRight(c.base, "/")
	base = strings.TrimSuffix(base, "/v1")
	return base + path
}

// Do sends one request and returns its Record; it never returns nil and never panics on what
// a server sends. Every field is filled except the runner's (Intended, Stage, Seq, Worker,
// Template). A cancelled ctx gives ClassCancelled with what arrived until then. Record.Stream
// is whether a stream was asked for: for a RawBody, its "stream" field (see ExpectStream).
// Server token counts are used only when the reply completed; a failed one counts its chunks.
//
// The sender New chose carries it: the Transport's own HTTP/1.1 path or net/http.
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
	if c.own != nil {
		c.doOwn(ctx, c.own, &c.targets[apiIndex(req.API)], req, rec, body)
		return rec
	}
	c.doNetHTTP(ctx, req, rec, body)
	return rec
}

// netWatchdog starts the request's clock and a watchdog that cancels reqCtx with the cause.
func (c *Client) netWatchdog(rec *Record, cancel context.CancelCauseFunc) *watchdog {
	wd := &watchdog{onTimeout: func(te *timeoutError) { cancel(te) }}
	rec.Sent = time.Now()
	wd.arm(rec.Sent, c.firstByteTimeout, c.stallTimeout, c.totalTimeout)
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
		for k, v := range c.header {
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
	resp, err := c.http.Do(hreq)
	if err != nil && reused && (staleConn(unwrapURL(err)) || serverClosedIdle(unwrapURL(err))) && wd.cause.Load() == nil && ctx.Err() == nil {
		rec.Reconnected = true
		if hreq, err = newRequest(); err == nil {
			resp, err = c.http.Do(hreq)
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
		c.readHTTPError(ctx, rec, resp.Body, wd, resp.Header.Get("Location"), req.API)
		return
	}
	lr := newLineReader(resp.Body, wd)
	lr.max = c.maxLine
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
		cn.wd.arm(rec.Sent, c.firstByteTimeout, c.stallTimeout, c.totalTimeout)
		closeConn, err = cn.buildRequest(tg, c.header, body, t.DisableKeepAlives)
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
		c.readHTTPError(ctx, rec, b, wd, string(cn.location), req.API)
	} else {
		lr := &cn.lines
		*lr = lineReader{src: b, buf: lr.buf, wd: wd, arrivals: b, max: c.maxLine}
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

// serverClosedIdle reports net/http's error for a POST written on a kept-alive connection
// whose close was already on its way: staleConn's case, which net/http names on its own (its
// error value is not exported, its text is fixed).
func serverClosedIdle(err error) bool {
	return err != nil && err.Error() == "http: server closed idle connection"
}

// dialLimit bounds a new connection for the own path: the first byte cannot come later than
// the first-byte and total timeouts allow, so a dial that outlasts the nearer one fails as
// that timeout. A zero after means no bound beyond the dialer's own.
func (c *Client) dialLimit() timeoutError {
	switch {
	case c.firstByteTimeout > 0 && (c.totalTimeout <= 0 || c.firstByteTimeout <= c.totalTimeout):
		return timeoutError{class: ClassTimeoutFirstByte, after: c.firstByteTimeout}
	case c.totalTimeout > 0:
		return timeoutError{class: ClassTimeoutTotal, after: c.totalTimeout}
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
	if rec.DoneReason != "" {
		rec.DoneReason = c.clean(rec.DoneReason) // the server's word: it may echo a header
	}
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

// readHTTPError classifies a non-2xx reply by its status and keeps the server's message; a
// redirect's is where it points (location, its Location header), which is not followed.
func (c *Client) readHTTPError(ctx context.Context, rec *Record, body io.Reader, wd *watchdog, location string, a API) {
	lr := newLineReader(io.LimitReader(body, maxErrorBody), wd)
	data, _, err := lr.all()
	wd.stop()
	c.settleBody(rec, lr)
	rec.Class = statusClass(rec.Status)
	msg := errorText(data)
	if msg == "" {
		msg = http.StatusText(rec.Status)
	}
	if rec.Class == ClassRedirect && location != "" {
		msg = c.redirectText(a.Path(), location)
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
	case code >= 300 && code < 400:
		return ClassRedirect
	}
	return ClassHTTPOther
}

// redirectText names where a redirect from path points: resolved against the endpoint, without
// credentials.
func (c *Client) redirectText(path, location string) string {
	where := "(a Location that does not parse)"
	if loc, err := url.Parse(location); err == nil {
		if base, err := url.Parse(c.endpoint(path)); err == nil {
			loc = base.ResolveReference(loc)
		}
		where = redactParsedURL(loc)
	}
	return "redirect to " + where + ", not followed"
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
	if why := clientLimit(err); why != "" {
		return ClassClientLimit, op + ": " + err.Error() + ": " + why
	}
	return ClassNetwork, op + ": " + err.Error()
}

// clientLimit says which of the client's own limits err hit, if any: these requests failed in
// llmload's process, before the server could do anything.
func clientLimit(err error) string {
	switch {
	case errors.Is(err, syscall.EMFILE):
		return "the client is out of file descriptors (raise ulimit -n, or lower the concurrency)"
	case errors.Is(err, syscall.ENFILE):
		return "the machine is out of file descriptors"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "the client is out of local ports (too many new connections)"
	}
	return ""
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

// clean removes the Client's secrets (see Redactor) from text bound for a Record or an error,
// then truncates it. A server may echo a request header in its error.
func (c *Client) clean(text string) string {
	if text == "" {
		return ""
	}
	return truncateText(c.redactor.Redact(text), maxErrorText)
}

// Redactor removes the Client's secrets from text: what a server says (its version, model
// names) may echo them.
func (c *Client) Redactor() *Redactor { return c.redactor }

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
