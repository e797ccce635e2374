package instant

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Handler answers the same endpoints with the same replies as Server, through Go's net/http:
// the HTTP stack Ollama itself is built on (gin runs on net/http), with no model behind it.
// It is the instant server with a real server's per-request cost (a goroutine per connection,
// header maps, a buffered writer, a read of the body), where Server is the cheapest possible
// one; a client benchmark against it says whether the client keeps up with Ollama's own HTTP
// layer, against Server how much the client can do at most.
func Handler(cfg Config) http.Handler {
	h := &handler{cfg: cfg}
	h.scratch.New = func() any { return new(scratch) }
	return h
}

type handler struct {
	cfg     Config
	scratch sync.Pool // *scratch
}

// scratch is one request's buffers, reused from request to request.
type scratch struct {
	body bytes.Buffer
	out  []byte
}

func (h *handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/" {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(rw, "Ollama is running")
		return
	}
	w, ok := route(r.URL.Path)
	if !ok || r.Method != http.MethodPost {
		http.NotFound(rw, r)
		return
	}
	sc := h.scratch.Get().(*scratch)
	defer h.scratch.Put(sc)
	sc.body.Reset()
	if _, err := sc.body.ReadFrom(http.MaxBytesReader(rw, r.Body, maxBody)); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	stream, tokens := h.cfg.shape(w, sc.body.Bytes())
	if !stream {
		sc.out = w.whole(sc.out[:0], tokens)
		rw.Header().Set("Content-Type", w.jsonType())
		rw.Header().Set("Content-Length", strconv.Itoa(len(sc.out)))
		_, _ = rw.Write(sc.out)
		return
	}
	rw.Header().Set("Content-Type", w.streamType())
	fl, _ := rw.(http.Flusher)
	send := func(b []byte) bool {
		if _, err := rw.Write(b); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	for range tokens {
		if d := h.cfg.Delay; d > 0 {
			time.Sleep(d)
		}
		if sc.out = w.chunk(sc.out[:0]); !send(sc.out) {
			return
		}
	}
	sc.out = w.final(sc.out[:0], tokens)
	send(sc.out)
}
