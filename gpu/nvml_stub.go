//go:build !(linux && cgo)

package gpu

import "errors"

// newNVMLLib reports that this binary has no NVML: go-nvml needs cgo and Linux.
func newNVMLLib() (nvmlLib, error) {
	return nil, errors.New("built without NVML support")
}
