// Package cudamem holds GPU memory through the CUDA driver API, loaded at run time, so that
// the gpu package's integration test can watch NVML see it with no CUDA toolkit to build.
//
// It exists on Linux with cgo only, and only tests import it.
package cudamem
