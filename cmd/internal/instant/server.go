// Package instant is the cheapest server llmload, ab and hey can be pointed at: it answers the
// four generation endpoints at once, so that a benchmark of the client measures the client.
package instant

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"
)

// Config shapes the instant server's replies.
type Config struct {
	// Tokens is how many text chunks a reply carries when the request sets no limit
	// (options.num_predict or max_tokens); 0 means 1.
	Tokens int
	// Delay is the pause before each text chunk of a stream; 0 sends them back to back.
	Delay time.Duration
}

// Server answers Ollama's /api/generate and /api/chat and the OpenAI-compatible
// /v1/chat/completions and /v1/completions at once, streamed (NDJSON, SSE) or not, with
// replies shaped like the real servers'. It speaks just enough HTTP/1.x for load generators
// (Content-Length request bodies, keep-alive in 1.0 and 1.1) on one goroutine per connection
// with no allocation per request: the simulator and net/http do real work for every request,
// and a benchmark of the client wants as little of that as possible on the same cores.
type Server struct {
	cfg Config

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewServer returns a server with the given replies.
func NewServer(cfg Config) *Server {
	return &Server{cfg: cfg, conns: map[net.Conn]struct{}{}}
}

// Serve accepts connections on ln until ctx ends, then closes ln and every connection and
// waits for their goroutines.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	defer s.wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}
}

// Bounds on what a request may be: a load generator's requests are small.
const (
	maxHeaderLines = 100
	maxBody        = 1 << 20
	connBufSize    = 4 << 10
)

// request is what the server needs to know of one request.
type request struct {
	method, path []byte
	keepAlive    bool
	http10       bool
	body         []byte
}

type conn struct {
	s    *Server
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	body []byte // reused for every request's body
	out  []byte // reused for every reply
	tmp  []byte
}

func (s *Server) serveConn(c net.Conn) {
	cn := &conn{s: s, c: c, br: bufio.NewReaderSize(c, connBufSize), bw: bufio.NewWriterSize(c, connBufSize)}
	for {
		req, status, err := cn.readRequest()
		if err != nil {
			if status != 0 {
				cn.plain(status, string(bytes.TrimSpace([]byte(err.Error()))), false)
				cn.bw.Flush()
			}
			return
		}
		if !cn.serve(req) {
			return
		}
		if err := cn.bw.Flush(); err != nil || !req.keepAlive {
			return
		}
	}
}

// readRequest reads one request head and its Content-Length body. A non-zero status is the
// reply a malformed request gets before the connection closes.
func (cn *conn) readRequest() (request, int, error) {
	var req request
	line, err := cn.br.ReadSlice('\n')
	if err != nil {
		return req, 0, err
	}
	method, rest, ok1 := bytes.Cut(trimEOL(line), []byte(" "))
	path, proto, ok2 := bytes.Cut(rest, []byte(" "))
	if !ok1 || !ok2 {
		return req, 400, errors.New("bad request line")
	}
	// The request line lives in the reader's buffer until the next read: keep copies of the
	// two short fields in a reused scratch buffer.
	cn.tmp = append(append(cn.tmp[:0], method...), path...)
	req.method, req.path = cn.tmp[:len(method)], cn.tmp[len(method):]
	switch string(proto) {
	case "HTTP/1.1":
		req.keepAlive = true
	case "HTTP/1.0":
		req.http10 = true
	default:
		return req, 505, errors.New("HTTP/1.x only")
	}
	length := 0
	for n := 0; ; n++ {
		if n > maxHeaderLines {
			return req, 431, errors.New("too many header lines")
		}
		line, err := cn.br.ReadSlice('\n')
		if err != nil {
			return req, 0, err
		}
		line = trimEOL(line)
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return req, 400, errors.New("bad header line")
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 {
				return req, 400, errors.New("bad Content-Length")
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return req, 501, errors.New("chunked request bodies are not supported")
		case bytes.EqualFold(name, []byte("Connection")):
			switch {
			case bytes.EqualFold(value, []byte("close")):
				req.keepAlive = false
			case bytes.EqualFold(value, []byte("keep-alive")):
				req.keepAlive = true
			}
		}
	}
	if length > maxBody {
		return req, 413, errors.New("body too large")
	}
	if cap(cn.body) < length {
		cn.body = make([]byte, length)
	}
	req.body = cn.body[:length]
	if _, err := io.ReadFull(cn.br, req.body); err != nil {
		return req, 0, err
	}
	return req, 0, nil
}

// route is the reply format of an endpoint; false for a path the server does not answer.
func route(path string) (wire, bool) {
	switch path {
	case "/api/generate":
		return wire{ollama: true}, true
	case "/api/chat":
		return wire{ollama: true, chat: true}, true
	case "/v1/chat/completions":
		return wire{chat: true}, true
	case "/v1/completions":
		return wire{}, true
	}
	return wire{}, false
}

// shape reads what a request body asks for: a stream or not (Ollama streams by default,
// OpenAI servers do not) and how many tokens.
func (cfg Config) shape(w wire, body []byte) (stream bool, tokens int) {
	stream, found := boolField(body, `"stream"`)
	if !found {
		stream = w.ollama
	}
	tokens = max(cfg.Tokens, 1)
	if n, ok := intField(body, `"num_predict"`); ok && n > 0 {
		tokens = n
	} else if n, ok := intField(body, `"max_tokens"`); ok && n > 0 {
		tokens = n
	}
	return stream, tokens
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}

// serve writes the reply to one request into the connection's writer; false closes the
// connection.
func (cn *conn) serve(req request) bool {
	method, path := string(req.method), string(req.path)
	if method == "GET" && path == "/" {
		cn.plain(200, "Ollama is running", req.keepAlive)
		return true
	}
	if method != "POST" {
		cn.plain(404, "404 page not found", req.keepAlive)
		return true
	}
	w, ok := route(path)
	if !ok {
		cn.plain(404, "404 page not found", req.keepAlive)
		return true
	}
	stream, tokens := cn.s.cfg.shape(w, req.body)
	if !stream {
		cn.out = w.whole(cn.out[:0], tokens)
		cn.head(200, w.jsonType(), len(cn.out), req.keepAlive)
		cn.bw.Write(cn.out)
		return true
	}
	if req.http10 {
		// No chunked encoding in HTTP/1.0: the body ends when the connection does.
		req.keepAlive = false
	}
	cn.streamHead(w.streamType(), req)
	for range tokens {
		if d := cn.s.cfg.Delay; d > 0 {
			if cn.bw.Flush() != nil {
				return false
			}
			time.Sleep(d)
		}
		cn.out = w.chunk(cn.out[:0])
		if !cn.chunk(cn.out, req) {
			return false
		}
	}
	cn.out = w.final(cn.out[:0], tokens)
	if !cn.chunk(cn.out, req) {
		return false
	}
	if !req.http10 {
		cn.bw.WriteString("0\r\n\r\n")
	}
	return req.keepAlive
}

// chunk writes one piece of a streamed body and sends it, as a server flushes every token.
func (cn *conn) chunk(b []byte, req request) bool {
	if !req.http10 {
		cn.tmp = strconv.AppendInt(cn.tmp[:0], int64(len(b)), 16)
		cn.tmp = append(cn.tmp, "\r\n"...)
		cn.bw.Write(cn.tmp)
	}
	cn.bw.Write(b)
	if !req.http10 {
		cn.bw.WriteString("\r\n")
	}
	return cn.bw.Flush() == nil
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 413:
		return "Request Entity Too Large"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Status"
}

func (cn *conn) statusLine(code int, keepAlive bool) {
	cn.bw.WriteString("HTTP/1.1 ")
	cn.bw.WriteString(strconv.Itoa(code))
	cn.bw.WriteByte(' ')
	cn.bw.WriteString(statusText(code))
	if keepAlive {
		cn.bw.WriteString("\r\nConnection: keep-alive")
	} else {
		cn.bw.WriteString("\r\nConnection: close")
	}
}

func (cn *conn) head(code int, contentType string, length int, keepAlive bool) {
	cn.statusLine(code, keepAlive)
	cn.bw.WriteString("\r\nContent-Type: ")
	cn.bw.WriteString(contentType)
	cn.bw.WriteString("\r\nContent-Length: ")
	cn.tmp = strconv.AppendInt(cn.tmp[:0], int64(length), 10)
	cn.bw.Write(cn.tmp)
	cn.bw.WriteString("\r\n\r\n")
}

func (cn *conn) streamHead(contentType string, req request) {
	cn.statusLine(200, req.keepAlive)
	cn.bw.WriteString("\r\nContent-Type: ")
	cn.bw.WriteString(contentType)
	if !req.http10 {
		cn.bw.WriteString("\r\nTransfer-Encoding: chunked")
	}
	cn.bw.WriteString("\r\n\r\n")
}

func (cn *conn) plain(code int, text string, keepAlive bool) {
	cn.head(code, "text/plain; charset=utf-8", len(text), keepAlive)
	cn.bw.WriteString(text)
}

// boolField finds `"name": true|false` anywhere in a JSON body. The server trusts its clients
// (they are load generators sending one fixed body) and so does not parse the document.
func boolField(body []byte, name string) (value, found bool) {
	v := fieldValue(body, name)
	switch {
	case bytes.HasPrefix(v, []byte("true")):
		return true, true
	case bytes.HasPrefix(v, []byte("false")):
		return false, true
	}
	return false, false
}

// intField finds `"name": 123` anywhere in a JSON body.
func intField(body []byte, name string) (int, bool) {
	v := fieldValue(body, name)
	n, i := 0, 0
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9' && i < 9; i++ {
		n = n*10 + int(v[i]-'0')
	}
	return n, i > 0
}

func fieldValue(body []byte, name string) []byte {
	i := bytes.Index(body, []byte(name))
	if i < 0 {
		return nil
	}
	v := bytes.TrimLeft(body[i+len(name):], " \t\r\n")
	if len(v) == 0 || v[0] != ':' {
		return nil
	}
	return bytes.TrimLeft(v[1:], " \t\r\n")
}
