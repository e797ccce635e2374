package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"
)

// The own HTTP/1.1 path (see Transport): one connection serves one request at a time, on the
// goroutine of the caller, which writes the request in one write and reads the reply through
// one buffer. Only what a load test needs is implemented; anything else goes to net/http.

const (
	// h1BufSize is a connection's read buffer: a reply's head, or a few stream chunks.
	h1BufSize = 4 << 10
	// maxHeadBytes bounds a reply's status line and headers, as net/http's default does.
	maxHeadBytes = 1 << 20
	// maxKeptBuf: buffers that grew past this for one big request are not kept for the next.
	maxKeptBuf = 64 << 10
	// maxChunkLine bounds a chunk-size line (with its extensions) and a trailer line.
	maxChunkLine = 4 << 10
)

// errHeadTooLarge says a reply's head passed maxHeadBytes.
var errHeadTooLarge = errors.New("response headers too large")

// h1Conn is one connection of the own path.
type h1Conn struct {
	nc        net.Conn
	buf       []byte // read buffer; unread bytes are buf[r:w]
	r, w      int
	wbuf      []byte     // the request being written
	body      h1Body     // the reply being read
	lines     lineReader // its lines; the buffer is kept between requests
	ctype     []byte     // the reply's Content-Type, copied out of buf
	location  []byte     // a redirect's Location, copied out of buf (3xx replies only)
	idleSince time.Time
	rx        int64 // bytes read over the connection's life: did a reply begin?
	probe     probe
	clock     arrivalClock
	// arrived is when the bytes of the latest read arrived; doOwn sets it to the send time
	// before each request, so that no arrival of the request comes before it.
	arrived time.Time
	wd      watchdog // the timeouts of the request being carried

	boundDone <-chan struct{} // Done of the context the connection is bound to
	unbind    func() bool     // stops the binding's AfterFunc; nil when unbound
}

func newH1Conn(nc net.Conn) *h1Conn {
	cn := &h1Conn{nc: nc, buf: make([]byte, h1BufSize)}
	cn.probe.init(nc)
	cn.clock.init(nc)
	cn.wd.onTimeout = func(*timeoutError) { cn.abort() }
	cn.wd.lazy = true
	return cn
}

// bind makes cancelling ctx abort the connection. One binding serves every request of the
// same context (a run's requests share one), so a request costs no registration of its own.
// It reports false when the previous binding already fired: the connection is then aborted
// and must be closed.
func (cn *h1Conn) bind(ctx context.Context) bool {
	done := ctx.Done()
	if done != nil && done == cn.boundDone {
		return true
	}
	if cn.unbind != nil && !cn.unbind() {
		cn.unbind = nil
		return false
	}
	cn.unbind, cn.boundDone = nil, done
	if done != nil {
		cn.unbind = context.AfterFunc(ctx, cn.abort)
	}
	return true
}

func (cn *h1Conn) close() {
	if cn.unbind != nil {
		cn.unbind()
		cn.unbind = nil
	}
	cn.wd.close()
	cn.nc.Close()
}

// abort closes the connection from another goroutine (a timeout, or the bound context
// ending): a read or write in progress returns at once, and an idle connection gives its
// descriptor back now rather than when the pool next looks at it.
func (cn *h1Conn) abort() { _ = cn.nc.Close() }

// probeAfter is the idle time after which a connection is checked before it is reused.
// Servers close idle keep-alive connections after seconds (uvicorn, llama.cpp's httplib: 5 s)
// and announce any other close with "Connection: close"; a connection reused within a
// millisecond of its last reply has not been closed by any of them. Skipping the check there
// saves a system call per request exactly when requests come fastest.
const probeAfter = time.Millisecond

// reusable reports whether an idle connection may carry another request: not idle past the
// transport's limit and not closed (or written to) by the server meanwhile. net/http learns
// this from the reader goroutine it keeps on every idle connection; here one non-blocking
// read asks the kernel.
func (cn *h1Conn) reusable(idleTimeout time.Duration) bool {
	idle := time.Since(cn.idleSince)
	if idleTimeout > 0 && idle > idleTimeout {
		return false
	}
	return idle < probeAfter || cn.probe.open()
}

// fill reads once from the connection, making room first. It grows the buffer only when it is
// full of unread bytes (a long head).
func (cn *h1Conn) fill() error {
	if cn.r == cn.w {
		cn.r, cn.w = 0, 0
	}
	if cn.w == len(cn.buf) {
		if cn.r > 0 {
			cn.w = copy(cn.buf, cn.buf[cn.r:cn.w])
			cn.r = 0
		} else {
			nb := make([]byte, 2*len(cn.buf))
			copy(nb, cn.buf[:cn.w])
			cn.buf = nb
		}
	}
	for range maxEmptyReads {
		n, at, err := cn.clock.read(cn.nc, cn.buf[cn.w:])
		cn.w += n
		cn.rx += int64(n)
		if n > 0 {
			cn.arrived = cn.arrival(at)
			return nil // an error comes back on the next read
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// arrival turns the kernel's receive time of a read (wall clock; zero when unknown) into a time
// on the monotonic clock the Record's offsets use: the time now, less how long ago the kernel
// says the bytes came. It is never before the request was sent or an earlier arrival, whatever
// the wall clock did meanwhile.
func (cn *h1Conn) arrival(kernel time.Time) time.Time {
	now := time.Now()
	if kernel.IsZero() {
		return now
	}
	at := now.Add(-max(now.Sub(kernel), 0))
	if at.Before(cn.arrived) {
		at = cn.arrived
	}
	return at
}

// release prepares a connection for the pool: buffers that grew for one large reply go.
func (cn *h1Conn) release() {
	if cap(cn.buf) > maxKeptBuf {
		cn.buf = make([]byte, h1BufSize)
	}
	if cap(cn.wbuf) > maxKeptBuf {
		cn.wbuf = nil
	}
	cn.body = h1Body{}
	buf := cn.lines.buf
	if cap(buf) > maxKeptBuf {
		buf = nil
	}
	cn.lines = lineReader{buf: buf}
}

// errInvalidHeader is a header a Client was given that cannot go on the wire.
type errInvalidHeader struct {
	name  string
	value bool
}

func (e *errInvalidHeader) Error() string {
	if e.value {
		return fmt.Sprintf("invalid header field value for %q", e.name)
	}
	return fmt.Sprintf("invalid header field name %q", e.name)
}

// buildRequest renders the request into the connection's write buffer. It writes what net/http
// would: Host, User-Agent, Content-Length, Content-Type unless given, the Client's headers
// (Host, Content-Length, Transfer-Encoding and Trailer among them are net/http's to set and are
// skipped, as there), and no Accept-Encoding. It reports whether the request asks the server
// to close the connection.
func (cn *h1Conn) buildRequest(tg *target, hdr http.Header, body []byte, closeConn bool) (bool, error) {
	b := append(cn.wbuf[:0], "POST "...)
	b = append(b, tg.uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, tg.host...)
	b = append(b, "\r\nUser-Agent: "...)
	if v := hdr["User-Agent"]; len(v) > 0 {
		if !validHeaderValue(v[0]) {
			return false, &errInvalidHeader{name: "User-Agent", value: true}
		}
		b = append(b, trimHeaderValue(v[0])...)
	} else {
		b = append(b, userAgent...)
	}
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	if _, ok := hdr["Content-Type"]; !ok {
		b = append(b, "\r\nContent-Type: application/json"...)
	}
	if closeConn {
		b = append(b, "\r\nConnection: close"...)
	}
	for k, vs := range hdr {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !validHeaderName(k) {
			return false, &errInvalidHeader{name: k}
		}
		for _, v := range vs {
			if !validHeaderValue(v) {
				return false, &errInvalidHeader{name: k, value: true}
			}
			if k == "Connection" && hasToken(v, "close") {
				closeConn = true
			}
			b = append(b, "\r\n"...)
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, trimHeaderValue(v)...)
		}
	}
	b = append(b, "\r\n\r\n"...)
	cn.wbuf = append(b, body...)
	return closeConn, nil
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isTokenByte(k[i]) {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return c < 0x7f && bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}

// validHeaderValue rejects control characters other than tab, as net/http does: a CR or LF in
// a value would end the header early and let a value smuggle in headers of its own.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func trimHeaderValue(v string) string {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// hasToken reports whether a comma-separated header value holds token, ignoring case.
func hasToken[T string | []byte](v T, token string) bool {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		if equalFoldASCII(trimSpaceBytes(v[:i]), token) {
			return true
		}
		if i == len(v) {
			break
		}
		v = v[i+1:]
	}
	return false
}

func trimSpaceBytes[T string | []byte](v T) T {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

func equalFoldASCII[T string | []byte](a T, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// h1Head is what the own path needs of a reply's head.
type h1Head struct {
	status    int
	keepAlive bool  // the connection may carry another request once the body is read
	length    int64 // Content-Length; −1 when not given
	chunked   bool
}

// readLine returns the next line of the head without its line ending. It aliases the buffer
// and is valid until the next read.
func (cn *h1Conn) readLine(headBytes *int) ([]byte, error) {
	scanned := 0
	for {
		if i := bytes.IndexByte(cn.buf[cn.r+scanned:cn.w], '\n'); i >= 0 {
			end := cn.r + scanned + i
			line := cn.buf[cn.r:end]
			*headBytes += end + 1 - cn.r
			cn.r = end + 1
			if *headBytes > maxHeadBytes {
				return nil, errHeadTooLarge
			}
			return trimCR(line), nil
		}
		scanned = cn.w - cn.r
		if *headBytes+scanned > maxHeadBytes {
			return nil, errHeadTooLarge
		}
		if err := cn.fill(); err != nil {
			if err == io.EOF && (*headBytes > 0 || cn.w > cn.r) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// readHead reads a reply's status line and headers, skipping informational (1xx) replies as
// net/http does. The Content-Type is left in cn.ctype, a redirect's Location in cn.location.
func (cn *h1Conn) readHead(h *h1Head) error {
	headBytes := 0
	for {
		*h = h1Head{length: -1}
		cn.ctype, cn.location = cn.ctype[:0], cn.location[:0]
		line, err := cn.readLine(&headBytes)
		if err != nil {
			return err
		}
		http10, err := parseStatusLine(line, h)
		if err != nil {
			return err
		}
		closeConn, keepAliveHdr := false, false
		for {
			line, err := cn.readLine(&headBytes)
			if err != nil {
				return err
			}
			if len(line) == 0 {
				break
			}
			if line[0] == ' ' || line[0] == '\t' {
				continue // obsolete line folding: a continuation of a header this path ignores
			}
			name, value, ok := bytes.Cut(line, []byte(":"))
			if !ok {
				return fmt.Errorf("malformed MIME header line: %q", snippet(line))
			}
			value = trimSpaceBytes(value)
			switch {
			case equalFoldASCII(name, "Content-Length"):
				n, err := strconv.ParseInt(string(value), 10, 64)
				if err != nil || n < 0 {
					return fmt.Errorf("bad Content-Length %q", snippet(value))
				}
				if h.length >= 0 && h.length != n {
					return errors.New("reply has several different Content-Length headers")
				}
				h.length = n
			case equalFoldASCII(name, "Transfer-Encoding"):
				if !equalFoldASCII(value, "chunked") {
					return fmt.Errorf("unsupported transfer encoding: %q", snippet(value))
				}
				h.chunked = true
			case equalFoldASCII(name, "Connection"):
				closeConn = closeConn || hasToken(value, "close")
				keepAliveHdr = keepAliveHdr || hasToken(value, "keep-alive")
			case equalFoldASCII(name, "Content-Type"):
				cn.ctype = append(cn.ctype[:0], value...)
			case h.status >= 300 && h.status < 400 && equalFoldASCII(name, "Location"):
				cn.location = append(cn.location[:0], value...)
			}
		}
		if h.status >= 100 && h.status < 200 && h.status != http.StatusSwitchingProtocols {
			continue
		}
		h.keepAlive = !closeConn && (!http10 || keepAliveHdr)
		switch {
		case h.status == http.StatusSwitchingProtocols:
			h.keepAlive = false
			h.chunked, h.length = false, -1
		case h.status == http.StatusNoContent || h.status == http.StatusNotModified:
			h.chunked, h.length = false, 0
		case h.chunked:
			h.length = -1
		case h.length < 0:
			h.keepAlive = false // the body ends when the connection does
		}
		return nil
	}
}

func parseStatusLine(line []byte, h *h1Head) (http10 bool, err error) {
	proto, rest, ok := bytes.Cut(line, []byte(" "))
	if !ok || len(proto) != len("HTTP/1.1") || !bytes.HasPrefix(proto, []byte("HTTP/1.")) {
		return false, fmt.Errorf("malformed HTTP response %q", snippet(line))
	}
	switch proto[7] {
	case '0':
		http10 = true
	case '1':
	default:
		return false, fmt.Errorf("malformed HTTP version %q", proto)
	}
	code, _, _ := bytes.Cut(rest, []byte(" "))
	if len(code) != 3 {
		return false, fmt.Errorf("malformed HTTP status code %q", snippet(code))
	}
	n := 0
	for _, c := range code {
		if !isDigit(c) {
			return false, fmt.Errorf("malformed HTTP status code %q", code)
		}
		n = n*10 + int(c-'0')
	}
	if n < 100 {
		return false, fmt.Errorf("malformed HTTP status code %q", code)
	}
	h.status = n
	return http10, nil
}

// Body framings and the states of a chunked body.
const (
	bodyLength = iota
	bodyChunked
	bodyUntilClose
)

const (
	chunkSize = iota
	chunkData
	chunkDataEnd
	chunkTrailer
)

// h1Body reads one reply's body out of its connection. A Read returns what is already
// buffered without waiting for more, and reads from the connection once only when nothing is:
// the bytes a Read returns arrived together, so the line reader's timestamps stay true.
type h1Body struct {
	cn     *h1Conn
	mode   int
	state  int
	left   int64 // body bytes left (length) or bytes left in the current chunk
	excess int64 // framing bytes beyond what the data justifies, as net/http counts them
	err    error // sticky; io.EOF at the end the framing announced (or the connection's end)
	clean  bool  // the body ended where its framing said: the connection may be reused
}

// lastArrival is when the bytes of the latest Read arrived (see lineReader).
func (b *h1Body) lastArrival() time.Time { return b.cn.arrived }

func (b *h1Body) init(cn *h1Conn, h *h1Head) {
	*b = h1Body{cn: cn}
	switch {
	case h.chunked:
		b.mode = bodyChunked
	case h.length >= 0:
		b.mode, b.left = bodyLength, h.length
	default:
		b.mode = bodyUntilClose
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (b *h1Body) Read(p []byte) (int, error) {
	cn := b.cn
	n := 0
	for n < len(p) && b.err == nil {
		avail := cn.buf[cn.r:cn.w]
		switch {
		case b.mode == bodyLength && b.left == 0:
			b.err, b.clean = io.EOF, true
		case b.mode == bodyLength, b.mode == bodyChunked && b.state == chunkData:
			if b.mode == bodyChunked && b.left == 0 {
				b.state = chunkDataEnd
				continue
			}
			if len(avail) == 0 {
				if n > 0 {
					return n, nil
				}
				if err := cn.fill(); err != nil {
					b.err = unexpected(err)
				}
				continue
			}
			m := copy(p[n:], avail[:min(int64(len(avail)), b.left)])
			cn.r += m
			b.left -= int64(m)
			n += m
		case b.mode == bodyUntilClose:
			if len(avail) == 0 {
				if n > 0 {
					return n, nil
				}
				b.err = cn.fill() // io.EOF is this framing's clean end
				continue
			}
			m := copy(p[n:], avail)
			cn.r += m
			n += m
		case b.state == chunkDataEnd:
			if len(avail) < 2 {
				if n > 0 {
					return n, nil
				}
				if err := cn.fill(); err != nil {
					b.err = unexpected(err)
				}
				continue
			}
			if avail[0] != '\r' || avail[1] != '\n' {
				b.err = errors.New("malformed chunked encoding")
				continue
			}
			cn.r += 2
			b.state = chunkSize
		default: // a chunk-size line or a trailer line
			i := bytes.IndexByte(avail, '\n')
			if i < 0 {
				if len(avail) >= maxChunkLine {
					b.err = errChunkLineTooLong
					continue
				}
				if n > 0 {
					return n, nil
				}
				if err := cn.fill(); err != nil {
					b.err = unexpected(err)
				}
				continue
			}
			line := avail[:i+1]
			cn.r += i + 1
			b.chunkLine(line)
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, b.err
}

// errChunkLineTooLong is net/http's limit on a chunk-size line.
var errChunkLineTooLong = errors.New("header line too long")

// chunkLine handles a chunk-size line or a trailer line, with its line ending. It is as strict
// as net/http (CRLF endings, no space before the size, at most 16 hex digits, a bound on the
// framing's share of the bytes), so that a reply is read alike whichever path carried it.
func (b *h1Body) chunkLine(line []byte) {
	if b.state == chunkTrailer {
		line = trimCR(line[:len(line)-1])
		switch {
		case len(line) == 0:
			b.err, b.clean = io.EOF, true
		case bytes.IndexByte(line, ':') <= 0:
			b.err = fmt.Errorf("malformed MIME header line: %q", snippet(line))
		}
		return
	}
	switch i := bytes.IndexByte(line, '\r'); {
	case i < 0:
		b.err = errors.New("chunked line ends with bare LF")
		return
	case i != len(line)-2:
		b.err = errors.New("invalid CR in chunked line")
		return
	}
	line = line[:len(line)-2]
	if len(line) >= maxChunkLine {
		b.err = errChunkLineTooLong
		return
	}
	b.excess += int64(len(line)) + 2
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	size, _, _ := bytes.Cut(line, []byte(";")) // extensions are ignored
	if len(size) == 0 {
		b.err = errors.New("empty hex number for chunk length")
		return
	}
	var v uint64
	for i, c := range size {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			b.err = errors.New("invalid byte in chunk length")
			return
		}
		if i == 16 {
			b.err = errors.New("http chunk length too large")
			return
		}
		v = v<<4 | uint64(c)
	}
	if v > math.MaxInt64 {
		b.err = errors.New("http chunk length too large")
		return
	}
	b.excess = max(b.excess-16-2*int64(v), 0)
	if b.excess > 16<<10 {
		b.err = errors.New("chunked encoding contains too much non-data")
		return
	}
	if v == 0 {
		b.state = chunkTrailer
		return
	}
	b.state, b.left = chunkData, int64(v)
}

// Why an idle connection is not reused.
var (
	errClosedByPeer = errors.New("closed by the server")
	errUnsolicited  = errors.New("unsolicited bytes")
)
