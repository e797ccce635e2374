package api

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer serves each connection with fn, which reads requests with http.ReadRequest and
// writes replies byte for byte, so that tests control the wire exactly. It counts connections.
type rawServer struct {
	URL   string
	conns atomic.Int32
}

func newRawServer(t *testing.T, fn func(c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{URL: "http://" + ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				fn(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// serveEach answers every request on a connection with reply(n), n counting requests on the
// server; it stops when reply returns "".
func serveEach(reply func(n int, r *http.Request) string) func(net.Conn, *bufio.Reader) {
	var n atomic.Int32
	return func(c net.Conn, br *bufio.Reader) {
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, r.Body)
			out := reply(int(n.Add(1)), r)
			if out == "" {
				return
			}
			if _, err := io.WriteString(c, out); err != nil {
				return
			}
		}
	}
}

const okJSON = `{"response":"hi","done":true,"done_reason":"stop","eval_count":1,"total_duration":5}`

func jsonReply(proto, extra string) string {
	return fmt.Sprintf("%s 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s", proto, len(okJSON), extra, okJSON)
}

func rawClient(url string, set ...func(*Config)) *Client {
	cfg := Config{BaseURL: url, MaxConns: 4}
	for _, f := range set {
		f(&cfg)
	}
	return New(cfg)
}

func TestOwnPathFraming(t *testing.T) {
	chunked := "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n" +
		"1e\r\n" + `{"response":"a","done":false}` + "\n\r\n" +
		"1E;ext=1\r\n" + `{"response":"b","done":false}` + "\n\r\n" +
		fmt.Sprintf("%x\r\n%s\n\r\n", len(okJSON)+1, okJSON) + "0\r\nX-Trailer: 1\r\n\r\n"
	tests := []struct {
		name   string
		reply  string
		stream bool
		tokens int
		conns  int32 // connections for 3 sequential requests
	}{
		{"content length", jsonReply("HTTP/1.1", ""), false, 1, 1},
		{"chunked stream with extension and trailer", chunked, true, 3, 1},
		{"100 Continue first", "HTTP/1.1 100 Continue\r\n\r\n" + jsonReply("HTTP/1.1", ""), false, 1, 1},
		{"HTTP/1.0 keep-alive", jsonReply("HTTP/1.0", "Connection: keep-alive\r\n"), false, 1, 1},
		{"HTTP/1.0 without keep-alive", jsonReply("HTTP/1.0", ""), false, 1, 3},
		{"Connection: close", jsonReply("HTTP/1.1", "Connection: close\r\n"), false, 1, 3},
		{"unsolicited bytes after the reply", jsonReply("HTTP/1.1", "") + "HTTP/1.1 200 OK\r\n", false, 1, 3},
		{"bare LF line endings", strings.ReplaceAll(jsonReply("HTTP/1.1", ""), "\r\n", "\n"), false, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, serveEach(func(int, *http.Request) string { return tt.reply }))
			c := rawClient(srv.URL)
			for range 3 {
				rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: tt.stream})
				checkRecord(t, rec)
				if !rec.OK() || len(rec.TokenTimes) != tt.tokens || rec.Status != 200 {
					t.Fatalf("class %s status %d, %d token times: %q", rec.Class, rec.Status, len(rec.TokenTimes), rec.Error)
				}
				time.Sleep(2 * probeAfter) // let the server's close land, and the probe see it
			}
			if n := srv.conns.Load(); n != tt.conns {
				t.Errorf("%d connections, want %d", n, tt.conns)
			}
		})
	}
}

func TestOwnPathUntilClose(t *testing.T) {
	// No Content-Length, no chunking: the body ends with the connection.
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n\r\n"+`{"response":"a","done":false}`+"\n"+okJSON+"\n")
	})
	c := rawClient(srv.URL)
	for range 2 {
		rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
		checkRecord(t, rec)
		if !rec.OK() || len(rec.TokenTimes) != 2 {
			t.Fatalf("class %s, %d token times: %q", rec.Class, len(rec.TokenTimes), rec.Error)
		}
	}
	if n := srv.conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (a body read to the close is not reusable)", n)
	}
}

func TestOwnPathServerClosesIdle(t *testing.T) {
	// A server that drops the connection after each reply without saying so: the probe must
	// notice before the next request is written on it.
	closed := make(chan struct{}, 8)
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
		defer func() { closed <- struct{}{} }()
		defer c.Close()
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		_, _ = io.WriteString(c, jsonReply("HTTP/1.1", ""))
	})
	c := rawClient(srv.URL)
	for i := range 5 {
		rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m"})
		checkRecord(t, rec)
		if !rec.OK() {
			t.Fatalf("request %d: class %s: %q", i, rec.Class, rec.Error)
		}
		<-closed
		time.Sleep(2 * probeAfter) // past probeAfter: the next request checks the connection
	}
	if n := srv.conns.Load(); n != 5 {
		t.Errorf("%d connections for 5 requests", n)
	}
}

func TestOwnPathStatusAndErrors(t *testing.T) {
	t.Run("redirect is the outcome", func(t *testing.T) {
		srv := newRawServer(t, serveEach(func(int, *http.Request) string {
			return "HTTP/1.1 307 Temporary Redirect\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n"
		}))
		rec := rawClient(srv.URL).Do(context.Background(), &Request{API: OllamaGenerate, Model: "m"})
		checkRecord(t, rec)
		if rec.Class != ClassRedirect || rec.Status != 307 || !strings.HasSuffix(rec.Error, "/elsewhere, not followed") {
			t.Errorf("class %s status %d: %q", rec.Class, rec.Status, rec.Error)
		}
	})
	for _, tt := range []struct{ name, reply, errHas string }{
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", "malformed HTTP response"},
		{"bad status code", "HTTP/1.1 2x0 OK\r\n\r\n", "malformed HTTP status code"},
		{"bad content length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"},
		{"gzip transfer encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "unsupported transfer encoding"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid byte in chunk length"},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"done\":", "unexpected EOF"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader) {
				if _, err := http.ReadRequest(br); err == nil {
					_, _ = io.WriteString(c, tt.reply)
				}
			})
			rec := rawClient(srv.URL).Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
			checkRecord(t, rec)
			if rec.Class != ClassNetwork || !strings.Contains(rec.Error, tt.errHas) {
				t.Errorf("class %s: %q, want network error with %q", rec.Class, rec.Error, tt.errHas)
			}
		})
	}
	t.Run("header value with a line break", func(t *testing.T) {
		srv := newRawServer(t, serveEach(func(int, *http.Request) string { return jsonReply("HTTP/1.1", "") }))
		c := rawClient(srv.URL, func(cfg *Config) { cfg.Header = http.Header{"X-Key": {"a\r\nX-Injected: 1"}} })
		rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m"})
		checkRecord(t, rec)
		if rec.Class != ClassRequestError || strings.Contains(rec.Error, "X-Injected") || srv.conns.Load() > 1 {
			t.Errorf("class %s: %q", rec.Class, rec.Error)
		}
	})
}

func TestOwnPathWire(t *testing.T) {
	got := make(chan *http.Request, 1)
	srv := newRawServer(t, serveEach(func(_ int, r *http.Request) string {
		got <- r
		return jsonReply("HTTP/1.1", "")
	}))
	c := rawClient(srv.URL+"/", func(cfg *Config) {
		cfg.Header = http.Header{"User-Agent": {"mine/1"}, "X-Two": {"a", "b"}, "Host": {"ignored"}, "Content-Length": {"99"}}
	})
	rec := c.Do(context.Background(), &Request{API: OllamaChat, Model: "m", Prompt: "p"})
	if !rec.OK() {
		t.Fatalf("class %s: %q", rec.Class, rec.Error)
	}
	r := <-got
	host := strings.TrimPrefix(srv.URL, "http://")
	if r.Method != "POST" || r.URL.Path != "/api/chat" || r.Host != host || r.UserAgent() != "mine/1" ||
		r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Accept-Encoding") != "" ||
		strings.Join(r.Header["X-Two"], ",") != "a,b" || r.ContentLength != int64(len(`{"model":"m","messages":[{"role":"user","content":"p"}],"stream":false}`)) {
		t.Errorf("server saw %s %s host %q headers %v length %d", r.Method, r.URL, r.Host, r.Header, r.ContentLength)
	}
}

// TestOwnPathNotTaken checks what goes to net/http instead: credentials in the URL (sent as
// basic auth, as net/http does) and transports other than the package's own.
func TestOwnPathNotTaken(t *testing.T) {
	auth := make(chan string, 1)
	srv := newRawServer(t, serveEach(func(_ int, r *http.Request) string {
		auth <- r.Header.Get("Authorization")
		return jsonReply("HTTP/1.1", "")
	}))
	c := rawClient(strings.Replace(srv.URL, "http://", "http://user:pw@", 1))
	if rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m"}); !rec.OK() {
		t.Fatalf("class %s: %q", rec.Class, rec.Error)
	}
	if a := <-auth; !strings.HasPrefix(a, "Basic ") {
		t.Errorf("Authorization %q", a)
	}
	if s := c.Sender(); s.Name != SenderNetHTTP || !strings.Contains(s.Reason, "credentials") {
		t.Errorf("sender %+v for a URL with credentials", s)
	}
	c = New(Config{BaseURL: srv.URL, Transport: http.DefaultTransport})
	if s := c.Sender(); s.Name != SenderNetHTTP || !strings.Contains(s.Reason, "*http.Transport") {
		t.Errorf("sender %+v for a foreign transport", s)
	}
	if rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m"}); !rec.OK() {
		t.Fatalf("class %s: %q", rec.Class, rec.Error)
	}
	<-auth
}

// TestOwnPathContexts checks that a connection bound to a context that later ends is not
// reused for a request of another context, and that cancelling aborts a request at once.
func TestOwnPathContexts(t *testing.T) {
	srv := newRawServer(t, serveEach(func(int, *http.Request) string { return jsonReply("HTTP/1.1", "") }))
	c := rawClient(srv.URL)
	for i := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		rec := c.Do(ctx, &Request{API: OllamaGenerate, Model: "m"})
		cancel() // as a run does when it ends
		if !rec.OK() {
			t.Fatalf("run %d: class %s: %q", i, rec.Class, rec.Error)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if rec := c.Do(ctx, &Request{API: OllamaGenerate, Model: "m"}); rec.Class != ClassCancelled {
		t.Errorf("cancelled context: class %s: %q", rec.Class, rec.Error)
	}
}

// chunkConn is a net.Conn whose reads return data in steps of a given size.
type chunkConn struct {
	net.Conn
	data []byte
	step int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.step)], c.data)
	c.data = c.data[n:]
	return n, nil
}

func (c *chunkConn) Close() error { return nil }

// FuzzChunkedBody checks the chunked decoding against net/http's.
func FuzzChunkedBody(f *testing.F) {
	for _, s := range []string{
		"5\r\nhello\r\n0\r\n\r\n",
		"5 \r\nhello\r\n0\r\n\r\n",
		"5\r\nhello\n\n0\r\n\r\n",
		"1e\r\n{\"response\":\"a\",\"done\":false}\n\r\n0\r\n\r\n",
		"3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer: v\r\n\r\n",
		"5\nhello\n0\n\n",
		"5\r\nhell\r\n",
		"ffffffffffffffffff\r\n",
		"-1\r\n",
		" 5 \r\nhello\r\n0\r\n\r\n",
	} {
		f.Add([]byte(s), uint8(1))
		f.Add([]byte(s), uint8(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		want, refErr := io.ReadAll(httputil.NewChunkedReader(bufio.NewReaderSize(bytes.NewReader(data), 4096)))
		cn := &h1Conn{nc: &chunkConn{data: data, step: int(step%64) + 1}, buf: make([]byte, 16)}
		b := &h1Body{}
		b.init(cn, &h1Head{chunked: true, length: -1})
		got, err := io.ReadAll(b)
		if refErr == nil {
			// What net/http reads, the own path reads the same. (net/http stops at the last
			// chunk and leaves the trailer to its caller; the own path reads it too, so it may
			// still fail on a trailer net/http never looked at.)
			if err == nil && !bytes.Equal(got, want) {
				t.Fatalf("%q: got %q, net/http %q", data, got, want)
			}
			if err != nil && !bytes.HasPrefix(want, got) {
				t.Fatalf("%q: got %q (%v), net/http %q", data, got, err, want)
			}
			return
		}
		if err == nil {
			t.Fatalf("%q: decoded %q where net/http fails: %v", data, got, refErr)
		}
	})
}

// TestNetHTTPPathTimeouts runs the timeouts through net/http (a transport not from
// NewTransport), which shares the watchdog with the own path but cancels a context instead of
// closing a connection.
func TestNetHTTPPathTimeouts(t *testing.T) {
	const short = 100 * time.Millisecond
	chunk := `{"response":"a","done":false}` + "\n"
	for _, tt := range []struct {
		name     string
		srv      func(*testing.T) string
		timeouts [3]time.Duration
		class    Class
	}{
		{"first byte", func(t *testing.T) string { return silentServer(t).URL }, [3]time.Duration{short, time.Minute, time.Minute}, ClassTimeoutFirstByte},
		{"stall", func(t *testing.T) string {
			return streamServer(t, "application/x-ndjson", []string{chunk}, time.Minute).URL
		}, [3]time.Duration{time.Minute, short, time.Minute}, ClassTimeoutStall},
		{"total", func(t *testing.T) string {
			return streamServer(t, "application/x-ndjson", []string{chunk}, time.Minute).URL
		}, [3]time.Duration{0, 0, short}, ClassTimeoutTotal},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Config{BaseURL: tt.srv(t), Transport: &http.Transport{},
				FirstByteTimeout: tt.timeouts[0], StallTimeout: tt.timeouts[1], TotalTimeout: tt.timeouts[2]})
			if c.Sender().Name != SenderNetHTTP {
				t.Fatal("own path taken")
			}
			rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
			checkRecord(t, rec)
			if rec.Class != tt.class || rec.Done < short || rec.Done > 50*short {
				t.Errorf("class %s after %v: %q", rec.Class, rec.Done, rec.Error)
			}
		})
	}
}
