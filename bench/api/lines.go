package api

import (
	"bytes"
	"fmt"
	"io"
	"time"
)

// lineReader splits a response body into lines and remembers when the bytes of each line
// arrived. bufio.Reader hides when its reads happened; a load tester wants no guess, so it keeps
// its own buffer: a line's time is the time of the read that delivered its last byte, taken
// before any decoding. A line (or a whole document, for all) longer than max fails with a
// *tooLongError: a server that never ends a line must not take the client's memory.
type lineReader struct {
	src   io.Reader
	buf   []byte
	r, w  int       // unread data is buf[r:w]
	err   error     // sticky error from src; io.EOF at a clean end
	at    time.Time // when the newest bytes in buf arrived
	first time.Time // when the first byte arrived; zero until then
	n     int64     // bytes read
	wd    *watchdog // told about every arrival; nil outside Client.Do
	// arrivals, when set, says when the bytes of src's last read arrived (the kernel's time);
	// otherwise a read's time is taken when it returns.
	arrivals arrivalSource
	max      int // the longest line or document; 0 = DefaultMaxLine
}

// DefaultMaxLine is the longest line, SSE event or whole (stream:false) reply llmload reads by
// default: far past any real chunk or reply, and small enough that a request's buffers stay
// under a few tens of MiB whatever a server sends.
const DefaultMaxLine = 8 << 20

// tooLongError says a line, an event or a document passed the reader's limit.
type tooLongError struct {
	what  string
	limit int
}

func (e *tooLongError) Error() string {
	return fmt.Sprintf("%s longer than the %d MiB limit (raise it if the server really sends such replies)", e.what, e.limit>>20)
}

func (l *lineReader) limit() int {
	if l.max > 0 {
		return l.max
	}
	return DefaultMaxLine
}

// arrivalSource is a reader that knows when the bytes of its last read arrived.
type arrivalSource interface{ lastArrival() time.Time }

const (
	lineBufSize = 4 << 10
	// maxEmptyReads stops a reader that keeps returning nothing, as bufio does.
	maxEmptyReads = 100
)

func newLineReader(src io.Reader, wd *watchdog) *lineReader {
	return &lineReader{src: src, buf: make([]byte, lineBufSize), wd: wd}
}

// fill makes room and reads once from src.
func (l *lineReader) fill() {
	if l.r > 0 {
		l.w = copy(l.buf, l.buf[l.r:l.w])
		l.r = 0
	}
	if l.w == len(l.buf) {
		// A full buffer means a long line: grow, up to the limit.
		if l.w >= l.limit() {
			l.err = &tooLongError{what: "a line of the reply", limit: l.limit()}
			return
		}
		nb := make([]byte, min(2*len(l.buf), l.limit()))
		copy(nb, l.buf[:l.w])
		l.buf = nb
	}
	for range maxEmptyReads {
		n, err := l.src.Read(l.buf[l.w:])
		if n > 0 {
			var t time.Time
			if l.arrivals != nil {
				t = l.arrivals.lastArrival()
			} else {
				t = time.Now()
			}
			if t.Before(l.at) {
				t = l.at
			}
			l.at = t
			if l.first.IsZero() {
				l.first = t
			}
			l.n += int64(n)
			l.w += n
			if l.wd != nil {
				l.wd.touch(t)
			}
		}
		if err != nil {
			l.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	l.err = io.ErrNoProgress
}

// next returns the next line without its "\n" or "\r\n", and when its last byte arrived. The
// line aliases the buffer and is valid until the next call. A last line without a newline is
// returned at a clean end; after a transport error a partial line is dropped, never decoded.
// At the end next returns io.EOF or the transport error.
func (l *lineReader) next() ([]byte, time.Time, error) {
	scanned := 0 // bytes of buf[r:w] known to hold no newline
	for {
		if i := bytes.IndexByte(l.buf[l.r+scanned:l.w], '\n'); i >= 0 {
			end := l.r + scanned + i
			line := l.buf[l.r:end]
			l.r = end + 1
			return trimCR(line), l.at, nil
		}
		scanned = l.w - l.r
		if l.err != nil {
			if l.err == io.EOF && l.r < l.w {
				line := l.buf[l.r:l.w]
				l.r = l.w
				return trimCR(line), l.at, nil
			}
			return nil, l.at, l.err
		}
		l.fill()
	}
}

// all reads to the end and returns everything not yet consumed as one slice, for replies that
// are a single JSON document. The error is nil at a clean end.
func (l *lineReader) all() ([]byte, time.Time, error) {
	for l.err == nil {
		l.fill()
	}
	if tl, ok := l.err.(*tooLongError); ok {
		tl.what = "the reply"
	}
	data := l.buf[l.r:l.w]
	l.r = l.w
	if l.err != io.EOF {
		return data, l.at, l.err
	}
	return data, l.at, nil
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}
