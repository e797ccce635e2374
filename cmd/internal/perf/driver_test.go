package perf

import (
	"strings"
	"testing"
)

const abOutput = `Concurrency Level:      5
Time taken for tests:   0.002 seconds
Complete requests:      100
Failed requests:        0
Keep-Alive requests:    100
Requests per second:    59988.00 [#/sec] (mean)
`

const heyOutput = `Summary:
  Total:	0.0040 secs
  Requests/sec:	25120.7681

Status code distribution:
  [200]	100 responses
`

func TestParseTools(t *testing.T) {
	if r, err := ParseAB(abOutput); err != nil || r != 59988 {
		t.Errorf("ab: %v, %v", r, err)
	}
	if _, err := ParseAB(strings.Replace(abOutput, "Failed requests:        0", "Failed requests:        3", 1)); err == nil {
		t.Error("ab failures not reported")
	}
	if _, err := ParseAB(abOutput + "Non-2xx responses:      100\n"); err == nil {
		t.Error("ab non-2xx not reported")
	}
	if r, err := ParseHey(heyOutput); err != nil || r != 25120.7681 {
		t.Errorf("hey: %v, %v", r, err)
	}
	if _, err := ParseHey(heyOutput + "  [503]\t4 responses\n"); err == nil {
		t.Error("hey 503s not reported")
	}
	if r, err := ParseFloor("200000 requests in 1.005 s: 199041.3 req/s\n"); err != nil || r != 199041.3 {
		t.Errorf("floorclient: %v %v", r, err)
	}
	if _, err := ParseFloor("floorclient: read: connection reset by peer\n"); err == nil {
		t.Error("floorclient: an error line read as a rate")
	}
	if _, err := ParseHey(heyOutput + "Error distribution:\n  [4]\tdial tcp: connection refused\n"); err == nil {
		t.Error("hey errors not reported")
	}
}

func TestParseGoBench(t *testing.T) {
	out := "goos: linux\nBenchmarkNDJSONReader-2   \t    4836\t    243318 ns/op\t   4208482 chunks/s\t   13953 B/op\t       5 allocs/op\nPASS\n"
	m := ParseGoBench(out)["BenchmarkNDJSONReader"]
	if m["chunks/s"] != 4208482 || m["allocs/op"] != 5 || m["ns/op"] != 243318 {
		t.Errorf("%v", m)
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	if err := WriteTable(&b, []Figure{{Name: "a", Target: "≥ 1", Measured: "2", OK: judged(true)}, {Name: "b", Target: "reported", Measured: "3"}}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[1], "yes") || !strings.HasSuffix(lines[2], "—") {
		t.Errorf("%q", b.String())
	}
}
