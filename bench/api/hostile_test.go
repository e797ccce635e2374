package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// elsewhere is a server a hostile target points at: it counts what reaches it and which
// credentials came along.
type elsewhere struct {
	*httptest.Server
	hits      atomic.Int32
	withCreds atomic.Int32
}

func newElsewhere(t *testing.T) *elsewhere {
	e := &elsewhere{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		if r.Header.Get("Authorization") != "" || r.Header.Get("X-Api-Key") != "" {
			e.withCreds.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"response":"measured elsewhere","done":true,"done_reason":"stop","eval_count":1,"total_duration":5,"version":"0.1.0","models":[],"total_slots":1}`)
	}))
	t.Cleanup(e.Close)
	return e
}

// redirector answers every request with status and a Location built from the request.
func redirector(t *testing.T, status int, location func(r *http.Request) string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", location(r))
		w.WriteHeader(status)
		fmt.Fprint(w, "<html>moved</html>")
	}))
	t.Cleanup(srv.Close)
	return srv
}

// No redirect is followed, on either sender or by discovery: a 307 to another server is not
// measured there and reported ok, a 302 does not become a GET, and no credential (a header,
// the URL's Basic token) travels with it. The redirect is its own class and names where it
// pointed, without credentials.
func TestRedirectsAreNotFollowed(t *testing.T) {
	const key = "sk-live-redirect-0123456789"
	other := newElsewhere(t)
	for _, status := range []int{301, 302, 303, 307, 308} {
		for _, sender := range []string{SenderOwn, SenderNetHTTP} {
			t.Run(fmt.Sprintf("%d %s", status, sender), func(t *testing.T) {
				srv := redirector(t, status, func(r *http.Request) string {
					return strings.Replace(other.URL, "http://", "http://bob:pw-in-location@", 1) + r.URL.Path + "?api_key=" + key
				})
				base := srv.URL
				if sender == SenderNetHTTP {
					base = strings.Replace(base, "http://", "http://alice:hunter22@", 1)
				}
				c := rawClient(base, func(cfg *Config) { cfg.Header = http.Header{"X-Api-Key": {key}} })
				if c.Sender().Name != sender {
					t.Fatalf("sender %s, want %s", c.Sender().Name, sender)
				}
				rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
				checkRecord(t, rec)
				if rec.Class != ClassRedirect || rec.Status != status {
					t.Errorf("class %s status %d: %q", rec.Class, rec.Status, rec.Error)
				}
				want := fmt.Sprintf("HTTP %d: redirect to %s/api/generate?api_key=REDACTED, not followed", status, other.URL)
				if rec.Error != want {
					t.Errorf("error %q\nwant  %q", rec.Error, want)
				}
				for _, leak := range []string{key, "pw-in-location", "hunter22"} {
					if strings.Contains(rec.Error, leak) {
						t.Errorf("error shows %q: %q", leak, rec.Error)
					}
				}
				for _, ask := range []func(context.Context) error{
					func(ctx context.Context) error { _, err := c.Version(ctx); return err },
					func(ctx context.Context) error { _, err := c.Loaded(ctx); return err },
					func(ctx context.Context) error { _, err := c.Props(ctx); return err },
					func(ctx context.Context) error { _, err := c.Gauges(ctx); return err },
					c.Ping,
				} {
					err := ask(context.Background())
					if err == nil || !strings.Contains(err.Error(), "redirect to "+other.URL) || strings.Contains(err.Error(), key) {
						t.Errorf("discovery: %v", err)
					}
				}
				if id := c.Identify(context.Background()); id.Kind != "" || id.Version != "" {
					t.Errorf("Identify believed the other server: %+v", id)
				}
				if n := other.hits.Load(); n != 0 {
					t.Errorf("%d requests reached the server the redirect pointed at (%d with credentials)", n, other.withCreds.Load())
				}
			})
		}
	}
	t.Run("relative location, same server", func(t *testing.T) {
		srv := redirector(t, http.StatusTemporaryRedirect, func(*http.Request) string { return "/elsewhere" })
		rec := rawClient(srv.URL).Do(context.Background(), &Request{API: OpenAIChat, Model: "m"})
		if rec.Class != ClassRedirect || rec.Error != "HTTP 307: redirect to "+srv.URL+"/elsewhere, not followed" {
			t.Errorf("class %s: %q", rec.Class, rec.Error)
		}
	})
	t.Run("no location", func(t *testing.T) {
		srv := redirector(t, http.StatusNotModified, func(*http.Request) string { return "" })
		rec := rawClient(srv.URL).Do(context.Background(), &Request{API: OllamaGenerate, Model: "m"})
		if rec.Class != ClassRedirect || rec.Error != "HTTP 304: Not Modified" {
			t.Errorf("class %s: %q", rec.Class, rec.Error)
		}
	})
}

// Every secret of a target is redacted from what its server echoes: header values and their
// words, the URL's password as given and percent-encoded, the Basic token net/http builds from
// it, key-like query values.
func TestRedactor(t *testing.T) {
	r := NewRedactor("http://alice:p%40ss-word@h:1/v1?api_key=key-in-query&x=visible",
		http.Header{"Authorization": {"Bearer tok-123456"}, "X-Short": {"abc"}})
	basic := base64.StdEncoding.EncodeToString([]byte("alice:p@ss-word"))
	for in, want := range map[string]string{
		"auth Bearer tok-123456 ok":         "auth " + Redacted + " ok",
		"token tok-123456 alone":            "token " + Redacted + " alone",
		"pw p@ss-word, escaped p%40ss-word": "pw " + Redacted + ", escaped " + Redacted,
		"Basic " + basic:                    "Basic " + Redacted,
		"q key-in-query x visible abc":      "q " + Redacted + " x visible abc",
		"":                                  "",
	} {
		if got := r.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if !NewRedactor("http://127.0.0.1:1", nil).Empty() || r.Empty() {
		t.Error("Empty")
	}
	var none *Redactor
	if none.Redact("x") != "x" {
		t.Error("a nil Redactor changed text")
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:11434":                       "http://127.0.0.1:11434",
		"http://user:pw@host:1/v1":                     "http://host:1/v1",
		"https://host/?api_key=k&x=1&Token=t&secret=s": "https://host/?Token=REDACTED&api_key=REDACTED&secret=REDACTED&x=1",
		"http://u:pw@[::1":                             "(a URL that does not parse)",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A dial that fails for want of the client's own file descriptors (or local ports) is the
// client's failure, not the server's network_error, on either sender.
func TestClientLimitIsTheClients(t *testing.T) {
	for _, tt := range []struct {
		errno syscall.Errno
		says  string
	}{
		{syscall.EMFILE, "out of file descriptors"},
		{syscall.ENFILE, "out of file descriptors"},
		{syscall.EADDRNOTAVAIL, "out of local ports"},
	} {
		for _, base := range []string{"http://127.0.0.1:9", "http://u:pw-123@127.0.0.1:9"} {
			tr := NewTransport(1)
			tr.DialContext = func(context.Context, string, string) (net.Conn, error) {
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", tt.errno)}
			}
			c := New(Config{BaseURL: base, Transport: tr})
			rec := c.Do(context.Background(), &Request{API: OllamaGenerate, Model: "m", Stream: true})
			checkRecord(t, rec)
			if rec.Class != ClassClientLimit || !strings.Contains(rec.Error, tt.says) {
				t.Errorf("%s on %s: class %s: %q", tt.errno, c.Sender().Name, rec.Class, rec.Error)
			}
		}
	}
}
