package perf

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// timingServerEnv, when set to a TimingConfig in JSON, makes the test binary a timing server:
// the benchmark runs the server in a process of its own, as a real one runs.
const timingServerEnv = "LLMLOAD_TIMING_SERVER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(timingServerEnv); spec != "" {
		if err := serveTimingProcess(spec); err != nil {
			fmt.Fprintln(os.Stderr, "timing server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveTimingProcess serves until its standard input closes (its parent went away).
func serveTimingProcess(spec string) error {
	var cfg TimingConfig
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("http://%s\n", ln.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	return ServeTiming(ctx, ln, cfg)
}

// startTimingServer runs a timing server in a child process and returns its URL.
func startTimingServer(tb testing.TB, cfg TimingConfig) string {
	tb.Helper()
	spec, _ := json.Marshal(cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), timingServerEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("timing server: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestMeasureTiming(t *testing.T) {
	cfg := TimingConfig{Streams: 8, Rounds: 2, Tokens: 6, TokenTime: 5 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := MeasureTiming(ctx, cfg, startTimingServer(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 8 || res.Gaps != 8*5 {
		t.Fatalf("%d requests, %d gaps", res.Requests, res.Gaps)
	}
	// The known delay comes through (loosely: this checks the harness, not the timing; the
	// figures come from the benchmark).
	if res.ClientITLP50Ms < 2 || res.ClientITLP50Ms > 50 {
		t.Errorf("client ITL p50 %.2f ms for a 5 ms step", res.ClientITLP50Ms)
	}
}

// BenchmarkTimingAccuracy is the timing figure of `make bench`: 256 concurrent streams with a
// known 20 ms per token, the client's TTFT and ITL against the server's own chunk times.
func BenchmarkTimingAccuracy(b *testing.B) {
	cfg := TimingConfig{Streams: 256, Rounds: 3, Tokens: 40, TokenTime: 20 * time.Millisecond}
	url := startTimingServer(b, cfg)
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		res, err := MeasureTiming(ctx, cfg, url)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.TTFTErr.AbsP99, "ttft-err-p99-ms")
		b.ReportMetric(res.ITLErr.AbsP99, "itl-err-p99-ms")
		b.ReportMetric(res.Recv.P50, "recv-delay-p50-ms")
		b.ReportMetric(res.Recv.P99, "recv-delay-p99-ms")
		b.ReportMetric(res.Send.P99, "send-delay-p99-ms")
		b.ReportMetric(res.ClientITLP50Ms, "itl-p50-ms")
		b.ReportMetric(float64(res.Gaps), "gaps")
	}
}
