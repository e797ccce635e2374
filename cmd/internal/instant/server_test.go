package instant

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmload/llmload/bench/api"
)

func start(t *testing.T, cfg Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(cfg).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

// startNetHTTP serves Handler on a loopback port.
func startNetHTTP(t *testing.T, cfg Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(cfg)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestReplies checks every endpoint, streamed and not, through llmload's own client: the
// replies must read as complete, with the server's token counts, from both servers.
func TestReplies(t *testing.T) {
	t.Run("own", func(t *testing.T) { checkReplies(t, start(t, Config{Tokens: 3})) })
	t.Run("net/http", func(t *testing.T) { checkReplies(t, startNetHTTP(t, Config{Tokens: 3})) })
}

func checkReplies(t *testing.T, addr string) {
	for _, a := range api.APIs {
		for _, stream := range []bool{false, true} {
			// As llmload run makes its client.
			c := api.New(api.Config{BaseURL: "http://" + addr, MaxConns: 2})
			for _, maxTokens := range []int{0, 5} {
				rec := c.Do(context.Background(), &api.Request{API: a, Model: "instant", Prompt: "hi", Stream: stream, MaxTokens: maxTokens})
				want := 3
				if maxTokens > 0 {
					want = maxTokens
				}
				if !rec.OK() || rec.OutputTokens != want || !rec.TokensFromServer {
					t.Errorf("%s stream=%v max=%d: class %s, %d tokens (server %v): %s", a, stream, maxTokens, rec.Class, rec.OutputTokens, rec.TokensFromServer, rec.Error)
				}
				if stream && len(rec.TokenTimes) != want {
					t.Errorf("%s: %d chunks, want %d", a, len(rec.TokenTimes), want)
				}
			}
		}
	}
}

// TestKeepAlive checks the framing ab relies on: HTTP/1.0 with Connection: keep-alive keeps
// the connection, plain HTTP/1.0 and Connection: close end it.
func TestKeepAlive(t *testing.T) {
	addr := start(t, Config{})
	body := `{"model":"instant","stream":false}`
	for _, tt := range []struct {
		proto, conn string
		kept        bool
	}{
		{"HTTP/1.0", "Connection: Keep-Alive\r\n", true},
		{"HTTP/1.0", "", false},
		{"HTTP/1.1", "", true},
		{"HTTP/1.1", "Connection: close\r\n", false},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		for i := range 2 {
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, err := io.WriteString(c, "POST /api/generate "+tt.proto+"\r\nHost: x\r\n"+tt.conn+"Content-Length: "+
				strconv.Itoa(len(body))+"\r\n\r\n"+body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if i == 1 && !tt.kept {
				if err == nil {
					t.Errorf("%s %q: connection kept", tt.proto, tt.conn)
				}
				break
			}
			if err != nil {
				t.Fatalf("%s %q request %d: %v", tt.proto, tt.conn, i, err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.Contains(string(b), `"done":true`) {
				t.Errorf("%s: %d %s", tt.proto, resp.StatusCode, b)
			}
		}
		c.Close()
	}
}
