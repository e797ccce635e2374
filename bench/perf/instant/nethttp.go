package instant

import (
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
	h.bufs.New = func() any { return new([]byte) }
	return h
}

type handler struct {
	cfg  Config
	bufs sync.Pool // *[]byte: request bodies and replies
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
	bp := h.bufs.Get().(*[]byte)
	defer h.bufs.Put(bp)
	body, err := readAll((*bp)[:0], http.MaxBytesReader(rw, r.Body, maxBody))
	*bp = body
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	stream, tokens := h.cfg.shape(w, body)
	out := body[len(body):]
	if !stream {
		out = w.whole(out, tokens)
		rw.Header().Set("Content-Type", w.jsonType())
		rw.Header().Set("Content-Length", strconv.Itoa(len(out)))
		_, _ = rw.Write(out)
		*bp = out
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
		if out = w.chunk(out[:0]); !send(out) {
			return
		}
	}
	out = w.final(out[:0], tokens)
	send(out)
	*bp = out
}

// readAll appends what r holds to b.
func readAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}
