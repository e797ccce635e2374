//go:build !(linux && cgo)

package gpu

import (
	"os"
	"testing"
)

// Without cgo the real test does not exist; say so rather than pass by running nothing.
func TestIntegrationNVML(t *testing.T) {
	if os.Getenv("LLMLOAD_NVML_TEST") != "1" {
		t.Skip("set LLMLOAD_NVML_TEST=1 on a machine with an NVIDIA GPU to run")
	}
	t.Fatal("this test binary has no NVML: it needs Linux and cgo (a C compiler, CGO_ENABLED=1)")
}
