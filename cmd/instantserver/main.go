// Command instantserver serves the instant server on a loopback port for `make bench`, in a
// process of its own so that its CPU and memory are not counted as the client's: with
// --stack own the cheapest server llmload, ab and hey can be pointed at, with --stack net/http
// the same replies through Go's net/http, the HTTP stack of Ollama itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/llmload/llmload/cmd/internal/instant"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	tokens := flag.Int("tokens", 1, "text chunks per reply when the request sets no limit")
	delay := flag.Duration("delay", 0, "pause before each text chunk of a stream")
	stack := flag.String("stack", "own", "HTTP stack: own (the cheapest there is) or net/http (Ollama's, with no model behind it)")
	flag.Parse()
	if *stack != "own" && *stack != "net/http" {
		fmt.Fprintf(os.Stderr, "instantserver: --stack %q: want own or net/http\n", *stack)
		os.Exit(2)
	}
	if err := run(*listen, *stack, instant.Config{Tokens: *tokens, Delay: *delay}); err != nil {
		fmt.Fprintln(os.Stderr, "instantserver:", err)
		os.Exit(1)
	}
}

func run(listen, stack string, cfg instant.Config) error {
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
	if stack == "net/http" {
		srv := &http.Server{Handler: instant.Handler(cfg), ReadHeaderTimeout: 10 * time.Second}
		stop := context.AfterFunc(ctx, func() { srv.Close() })
		defer stop()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	return instant.NewServer(cfg).Serve(ctx, ln)
}
