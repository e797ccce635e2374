//go:build linux && cgo

package cudamem

import (
	"strings"
	"testing"
)

// Without a GPU Hold must fail with a reason, not crash; with one it must hold and free.
func TestHold(t *testing.T) {
	release, err := Hold(0, 1<<20, false)
	if err != nil {
		if !strings.HasPrefix(err.Error(), "cuda: ") {
			t.Errorf("err = %v", err)
		}
		t.Logf("no CUDA here: %v", err)
		return
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
}
