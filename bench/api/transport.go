package api

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Dial settings. Targets are local servers, so a connect that takes seconds means the server is
// wedged, not that the network is slow.
const (
	dialTimeout     = 10 * time.Second
	keepAlive       = 30 * time.Second
	idleConnTimeout = 90 * time.Second
	readBufferSize  = 4 << 10
)

// Transport carries a Client's requests. It is an *http.Transport (its settings are the ones
// below, and everything but the own path's POSTs goes through it: discovery GETs, and every
// request of a Client whose sender is net/http) plus llmload's own HTTP/1.1 path, which New
// chooses for plain-http targets.
//
// The own path exists because the client must never be the bottleneck. net/http hands every
// request between three goroutines (caller, connection writer, connection reader), allocates a
// header map and a request per call and keeps 36 KiB of buffers per connection; the own path
// writes a request and reads its reply on the caller's goroutine, with one buffer per
// connection, like ab and wrk. It honours the embedded transport's DialContext,
// DisableKeepAlives, MaxIdleConnsPerHost and IdleConnTimeout. Unlike net/http's default
// client it never follows a redirect: a 3xx is the request's outcome, as in ab.
type Transport struct {
	*http.Transport

	mu   sync.Mutex
	idle map[string][]*h1Conn // idle connections by dial address, most recently used last
}

// NewTransport returns a transport for maxConns concurrent requests to one server. It never
// caps concurrency on its own (a hidden cap would turn a 64-way test into a smaller one and
// call it the server's fault): no per-host connection limit, and enough idle connections kept
// that every worker reuses its own. It asks for no compression (a gzip reader would delay and
// batch chunk arrivals), uses no proxy (the targets are local servers; a proxy from the
// environment would measure the proxy), and speaks HTTP/1.1 only, as Ollama does.
func NewTransport(maxConns int) *Transport {
	maxConns = max(maxConns, 1)
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return &Transport{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         dialer.DialContext,
		MaxIdleConns:        0, // no limit overall
		MaxIdleConnsPerHost: maxConns,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     idleConnTimeout,
		TLSHandshakeTimeout: dialTimeout,
		DisableCompression:  true,
		ReadBufferSize:      readBufferSize,
		Protocols:           protocols,
		// No ResponseHeaderTimeout: Client.Do runs its own timeouts, which it can tell apart.
	}}
}

// CloseIdleConnections closes the idle connections of both paths.
func (t *Transport) CloseIdleConnections() {
	t.Transport.CloseIdleConnections()
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, list := range idle {
		for _, cn := range list {
			cn.close()
		}
	}
}

// target is where the own path sends one endpoint's requests.
type target struct {
	addr string // host:port to dial
	host string // Host header
	uri  string // request target: path and query
}

// maxIdle is how many idle connections per address the own path keeps.
func (t *Transport) maxIdle() int {
	if t.MaxIdleConnsPerHost > 0 {
		return t.MaxIdleConnsPerHost
	}
	return http.DefaultMaxIdleConnsPerHost
}

// getConn takes the most recently used idle connection that is still open, or dials one, and
// binds it to ctx; reused says which. fresh skips the idle connections: a request sent again
// after a reused connection failed goes out on a new one. A dial that outlasts limit (when its
// after is set) fails with limit as its error.
func (t *Transport) getConn(ctx context.Context, addr string, sent time.Time, limit timeoutError, fresh bool) (cn *h1Conn, reused bool, err error) {
	for !fresh {
		t.mu.Lock()
		list := t.idle[addr]
		n := len(list)
		if n == 0 {
			t.mu.Unlock()
			break
		}
		cn := list[n-1]
		list[n-1] = nil
		t.idle[addr] = list[:n-1]
		t.mu.Unlock()
		if cn.reusable(t.IdleConnTimeout) && cn.bind(ctx) {
			return cn, true, nil
		}
		cn.close()
	}
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}).DialContext
	}
	dialCtx := ctx
	if limit.after > 0 {
		var cancel context.CancelFunc
		dialCtx, cancel = context.WithDeadline(ctx, sent.Add(limit.after))
		defer cancel()
	}
	nc, err := dial(dialCtx, "tcp", addr)
	if err != nil {
		if limit.after > 0 && ctx.Err() == nil && dialCtx.Err() == context.DeadlineExceeded {
			te := limit
			return nil, false, &te
		}
		return nil, false, err
	}
	cn = newH1Conn(nc)
	cn.bind(ctx)
	return cn, false, nil
}

// putConn keeps a connection whose last reply ended cleanly, or closes it when the pool for
// its address is full.
func (t *Transport) putConn(addr string, cn *h1Conn) {
	if t.DisableKeepAlives {
		cn.close()
		return
	}
	cn.idleSince = time.Now()
	t.mu.Lock()
	if t.idle == nil {
		t.idle = map[string][]*h1Conn{}
	}
	if list := t.idle[addr]; len(list) < t.maxIdle() {
		t.idle[addr] = append(list, cn)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	cn.close()
}
