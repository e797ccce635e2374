package api

import (
	"bufio"
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const fixtureDir = "../../testdata/ollama-0.17.4"

// fixture is one recorded HTTP response: status line, headers, blank line, body.
type fixture struct {
	status int
	header http.Header
	body   []byte
}

func loadFixture(tb testing.TB, name string) fixture {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		tb.Fatalf("read fixture: %v", err)
	}
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw)))
	statusLine, err := tp.ReadLine()
	if err != nil {
		tb.Fatalf("%s: status line: %v", name, err)
	}
	parts := strings.SplitN(statusLine, " ", 3)
	if len(parts) < 2 {
		tb.Fatalf("%s: bad status line %q", name, statusLine)
	}
	status, err := strconv.Atoi(parts[1])
	if err != nil {
		tb.Fatalf("%s: bad status %q", name, parts[1])
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		tb.Fatalf("%s: headers: %v", name, err)
	}
	// The body starts after the first blank line.
	i := bytes.Index(raw, []byte("\n\n"))
	if i < 0 {
		tb.Fatalf("%s: no blank line after the headers", name)
	}
	return fixture{status: status, header: http.Header(hdr), body: raw[i+2:]}
}

// lines splits a body into its lines, keeping the newline on each.
func (f fixture) lines() [][]byte {
	var out [][]byte
	rest := f.body
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			out = append(out, rest)
			break
		}
		out = append(out, rest[:i+1])
		rest = rest[i+1:]
	}
	return out
}

// replay serves the fixture for every request, writing its body line by line with a flush
// (and gap) after each line, as a streaming server would.
func replay(tb testing.TB, f fixture, gap time.Duration) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(replayHandler(f, gap))
	tb.Cleanup(srv.Close)
	return srv
}

func replayHandler(f fixture, gap time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range f.header {
			switch k {
			case "Content-Length", "Transfer-Encoding", "Date":
				continue
			}
			w.Header()[k] = v
		}
		w.WriteHeader(f.status)
		fl := w.(http.Flusher)
		for i, line := range f.lines() {
			if i > 0 && gap > 0 {
				time.Sleep(gap)
			}
			if _, err := w.Write(line); err != nil {
				return
			}
			fl.Flush()
		}
	}
}
