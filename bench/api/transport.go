package api

import (
	"net"
	"net/http"
	"time"
)

// Dial settings. Targets are local servers, so a connect that takes seconds means the server is
// wedged, not that the network is slow.
const (
	dialTimeout     = 10 * time.Second
	keepAlive       = 30 * time.Second
	idleConnTimeout = 90 * time.Second
	readBufferSize  = 32 << 10
)

// NewTransport returns a transport for maxConns concurrent requests to one server. It never
// caps concurrency on its own (a hidden cap would turn a 64-way test into a smaller one and
// call it the server's fault): no per-host connection limit, and enough idle connections kept
// that every worker reuses its own. It asks for no compression (a gzip reader would delay and
// batch chunk arrivals), uses no proxy (the targets are local servers; a proxy from the
// environment would measure the proxy), and speaks HTTP/1.1 only, as Ollama does.
func NewTransport(maxConns int) *http.Transport {
	maxConns = max(maxConns, 1)
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return &http.Transport{
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
	}
}
