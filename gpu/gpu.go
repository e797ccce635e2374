// Package gpu samples GPU memory, utilization, power and energy while a load test runs,
// from NVML, from the simulator, or not at all, and summarizes the samples per stage. What
// it produces is results file data: the types (GPUInfo, GPUSeries, GPUStageSummary …) live
// in bench/results, so that reading a results file never links NVML.
//
// A missing driver, an old driver or a failing call never stops a run: the backend reports
// "gpu: unavailable: <reason>" (or marks single readings missing) and the run goes on.
package gpu

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/results"
)

// Modes accepted by Open (the --gpu flag).
const (
	// ModeAuto uses the simulator's readings when Options.Sim is set (the target is the
	// simulator), else NVML when a driver is present, else nothing, with one notice.
	ModeAuto = "auto"
	// ModeOff samples nothing.
	ModeOff = "off"
	// ModeNVML requires NVML: no driver is an error.
	ModeNVML = "nvml"
	// ModeSim requires Options.Sim.
	ModeSim = "sim"
)

// DefaultInterval is the sampling period when none is given (--gpu-interval).
const DefaultInterval = 250 * time.Millisecond

// ErrClosed is what Read returns after Close; a Sampler stops on it.
var ErrClosed = errors.New("gpu: backend closed")

// Backend reads the current state of its devices. Read is called from one goroutine at a
// time; Close ends the backend, after which Read returns ErrClosed without touching the
// driver.
type Backend interface {
	// Name is "nvml", "sim" or "off".
	Name() string
	// Devices lists the sampled devices, in the order Read appends their samples.
	Devices() []results.GPUDevice
	// Read appends one sample per device to dst, in Devices order, and returns it.
	// At is left for the caller to stamp. EnergyJ holds the device's raw energy
	// counter in joules, from any origin: the Sampler turns it into energy since its
	// start. A reading that failed is left out of Valid; the error (non-nil only then)
	// says which, and the samples are still appended.
	Read(dst []results.GPUSample) ([]results.GPUSample, error)
	Close() error
}

// Options select what Open samples.
type Options struct {
	// Indices are the NVML device indices to sample (--gpu-index); nil samples all.
	Indices []int
	// PID, when not 0, is the server's process: each sample records the GPU memory held by
	// it and its descendants (ollama serve keeps the model in a child "ollama runner").
	PID int
	// Sim, set when the target is the simulator, provides its readings; ModeAuto then
	// picks the simulated backend.
	Sim func() SimReading
}

// unavailable builds the GPUInfo of a run without GPU sampling.
func unavailable(reason string, notify bool) results.GPUInfo {
	info := results.GPUInfo{Reason: reason, Backend: ModeOff, Devices: []results.GPUDevice{}}
	if notify {
		info.Notices = []string{"gpu: unavailable: " + reason}
	}
	return info
}

// Open starts the backend mode asks for. For ModeAuto a missing or unusable driver is not
// an error: the off backend comes back with GPUInfo.Reason and one notice. For ModeNVML it is an
// error naming the reason. Open does not take a context: NVML's initialization cannot be
// interrupted.
func Open(mode string, opts Options) (Backend, results.GPUInfo, error) {
	return open(mode, opts, newNVMLLib)
}

// open is Open with the NVML library injected, so tests can fake the driver.
func open(mode string, opts Options, newLib func() (nvmlLib, error)) (Backend, results.GPUInfo, error) {
	if err := checkIndices(opts.Indices); err != nil {
		return nil, unavailable(err.Error(), false), err
	}
	switch mode {
	case ModeOff:
		return offBackend{}, unavailable("disabled (--gpu off)", false), nil
	case ModeSim:
		if opts.Sim == nil {
			err := ErrNoSimulator
			return nil, unavailable(err.Error(), false), err
		}
		return openSim(opts)
	case ModeAuto:
		if opts.Sim != nil {
			return openSim(opts)
		}
		b, info, err := openNVMLMode(opts, newLib)
		var bad *IndexError
		switch {
		case errors.As(err, &bad):
			return nil, unavailable(reason(err), false), err // the user's to fix, not a fallback
		case err != nil:
			return offBackend{}, unavailable(reason(err), true), nil
		}
		return b, info, nil
	case ModeNVML:
		b, info, err := openNVMLMode(opts, newLib)
		var bad *IndexError
		switch {
		case errors.As(err, &bad):
			return nil, unavailable(reason(err), false), err
		case err != nil:
			return nil, unavailable(reason(err), false), fmt.Errorf("gpu: unavailable: %w", err)
		}
		return b, info, nil
	default:
		err := fmt.Errorf("gpu: unknown mode %q (want %s, %s, %s or %s)", mode, ModeAuto, ModeOff, ModeNVML, ModeSim)
		return nil, unavailable(err.Error(), false), err
	}
}

// reason turns an opening error into the text after "gpu: unavailable: ".
func reason(err error) string {
	return strings.TrimPrefix(err.Error(), "gpu: ")
}

func openNVMLMode(opts Options, newLib func() (nvmlLib, error)) (Backend, results.GPUInfo, error) {
	lib, err := newLib()
	if err != nil {
		return nil, results.GPUInfo{}, err
	}
	b, notices, err := openNVML(lib, opts, procParent)
	if err != nil {
		return nil, results.GPUInfo{}, err
	}
	info := results.GPUInfo{
		Available:     true,
		Backend:       b.Name(),
		DriverVersion: b.driver,
		Devices:       b.Devices(),
		Notices:       notices,
	}
	return b, info, nil
}

func openSim(opts Options) (Backend, results.GPUInfo, error) {
	for _, i := range opts.Indices {
		if i != 0 {
			err := &IndexError{Index: i, Reason: "only 1 device(s) present"}
			return nil, unavailable(err.Error(), false), err
		}
	}
	b := NewSim(opts.Sim)
	return b, results.GPUInfo{Available: true, Backend: b.Name(), Simulated: true, Devices: b.Devices()}, nil
}

// ErrNoSimulator is ModeSim without a simulator to read.
var ErrNoSimulator = errors.New("gpu: sim mode needs the simulator as the target")

// IndexError is a device index in Options.Indices that cannot be sampled.
type IndexError struct {
	Index  int
	Reason string
}

func (e *IndexError) Error() string {
	return fmt.Sprintf("gpu: device index %d: %s", e.Index, e.Reason)
}

func checkIndices(indices []int) error {
	for i, x := range indices {
		if x < 0 {
			return &IndexError{Index: x, Reason: "must not be negative"}
		}
		for _, y := range indices[:i] {
			if x == y {
				return &IndexError{Index: x, Reason: "given twice"}
			}
		}
	}
	return nil
}

// offBackend samples nothing, so callers need no nil checks when GPU sampling is off.
type offBackend struct{}

func (offBackend) Name() string                                              { return ModeOff }
func (offBackend) Devices() []results.GPUDevice                              { return nil }
func (offBackend) Read(dst []results.GPUSample) ([]results.GPUSample, error) { return dst, nil }
func (offBackend) Close() error                                              { return nil }
