// Command floorclient is the least a Go load generator can do per request, for `make bench`:
// one goroutine, one epoll set over -c keep-alive connections, a fixed request written with one
// write(2), and a reply read with one read(2) and checked only for its length: no per-request
// timing, no parsing, no record. Its rate, beside ab's, is the floor under any Go client's cost
// per request on the machine, so a comparison of llmload with ab can be read against it.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"
)

func main() {
	target := flag.String("url", "", "endpoint to POST to, http://127.0.0.1:PORT/path (loopback only)")
	conns := flag.Int("c", 50, "connections, each with one request in flight")
	n := flag.Int("n", 100000, "requests in all")
	bodyFile := flag.String("body", "", "file with the request body")
	flag.Parse()
	if err := run(*target, *conns, *n, *bodyFile); err != nil {
		fmt.Fprintln(os.Stderr, "floorclient:", err)
		os.Exit(1)
	}
}

func run(target string, conns, n int, bodyFile string) error {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		return fmt.Errorf("--url %q: want http://127.0.0.1:PORT/path", target)
	}
	if conns < 1 || n < conns {
		return fmt.Errorf("-c %d -n %d: want 1 ≤ c ≤ n", conns, n)
	}
	body, err := os.ReadFile(bodyFile)
	if err != nil {
		return fmt.Errorf("--body: %w", err)
	}
	req := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		u.RequestURI(), u.Host, len(body), body)
	start := time.Now()
	done, err := load(u.Hostname(), u.Port(), req, conns, n)
	if err != nil {
		return err
	}
	el := time.Since(start)
	fmt.Printf("%d requests in %.3f s: %.1f req/s\n", done, el.Seconds(), float64(done)/el.Seconds())
	return nil
}
