// Command instantserver serves perf.InstantServer on a loopback port for `make bench`: the
// cheapest server llmload, ab and hey can be pointed at, in a process of its own so that its
// CPU and memory are not counted as the client's.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/llmload/llmload/bench/perf/instant"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	tokens := flag.Int("tokens", 1, "text chunks per reply when the request sets no limit")
	delay := flag.Duration("delay", 0, "pause before each text chunk of a stream")
	flag.Parse()
	if err := run(*listen, instant.Config{Tokens: *tokens, Delay: *delay}); err != nil {
		fmt.Fprintln(os.Stderr, "instantserver:", err)
		os.Exit(1)
	}
}

func run(listen string, cfg instant.Config) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--listen %s: loopback addresses only", listen)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return err
	}
	// The address on stdout is how a script finds the port it was given.
	fmt.Printf("http://%s\n", ln.Addr())
	return instant.NewServer(cfg).Serve(ctx, ln)
}
