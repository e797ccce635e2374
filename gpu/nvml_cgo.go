//go:build linux && cgo

package gpu

import (
	"errors"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// newNVMLLib wraps go-nvml. Creating it loads nothing: the library is opened by Init.
func newNVMLLib() (nvmlLib, error) {
	// A library value of our own rather than go-nvml's package-level one, so that opening
	// and closing here never disturbs another user of go-nvml in the same process.
	return goNVML{lib: nvml.New()}, nil
}

// goNVML adapts go-nvml to nvmlLib. It adds no safety checks: those live in nvmlBackend,
// where the fake library can test them.
type goNVML struct{ lib nvml.Interface }

// nvmlError turns an NVML return code into an error; the codes the backend acts on
// become its sentinels.
func nvmlError(ret nvml.Return) error {
	switch ret {
	case nvml.SUCCESS:
		return nil
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		// Not ret.Error(): with the library absent only go-nvml's own strings are safe,
		// and ours says what to do.
		return errLibraryNotFound
	case nvml.ERROR_NOT_SUPPORTED:
		return errNotSupported
	case nvml.ERROR_NOT_FOUND:
		return errNoSamples
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return errors.New("NVIDIA driver not loaded")
	}
	return errors.New(ret.Error())
}

func (g goNVML) Init() error     { return nvmlError(g.lib.Init()) }
func (g goNVML) Shutdown() error { return nvmlError(g.lib.Shutdown()) }

func (g goNVML) LookupSymbol(name string) error {
	return g.lib.Extensions().LookupSymbol(name)
}

func (g goNVML) DriverVersion() (string, error) {
	v, ret := g.lib.SystemGetDriverVersion()
	return v, nvmlError(ret)
}

func (g goNVML) DeviceCount() (int, error) {
	n, ret := g.lib.DeviceGetCount()
	return n, nvmlError(ret)
}

func (g goNVML) Device(index int) (nvmlDevice, error) {
	d, ret := g.lib.DeviceGetHandleByIndex(index)
	if err := nvmlError(ret); err != nil {
		return nil, err
	}
	return goNVMLDevice{d: d}, nil
}

type goNVMLDevice struct{ d nvml.Device }

func (g goNVMLDevice) Name() (string, error) {
	s, ret := g.d.GetName()
	return s, nvmlError(ret)
}

func (g goNVMLDevice) UUID() (string, error) {
	s, ret := g.d.GetUUID()
	return s, nvmlError(ret)
}

func (g goNVMLDevice) MemoryInfoV2() (used, total uint64, err error) {
	m, ret := g.d.GetMemoryInfo_v2()
	return m.Used, m.Total, nvmlError(ret)
}

func (g goNVMLDevice) MemoryInfo() (used, total uint64, err error) {
	m, ret := g.d.GetMemoryInfo()
	return m.Used, m.Total, nvmlError(ret)
}

func (g goNVMLDevice) UtilizationRates() (gpu, memory uint32, err error) {
	u, ret := g.d.GetUtilizationRates()
	return u.Gpu, u.Memory, nvmlError(ret)
}

func (g goNVMLDevice) PowerUsage() (uint32, error) {
	mw, ret := g.d.GetPowerUsage()
	return mw, nvmlError(ret)
}

func (g goNVMLDevice) Temperature() (uint32, error) {
	// GetTemperature, not GetTemperatureV: the latter is newer than many drivers.
	c, ret := g.d.GetTemperature(nvml.TEMPERATURE_GPU)
	return c, nvmlError(ret)
}

func (g goNVMLDevice) SMClock() (uint32, error) {
	mhz, ret := g.d.GetClockInfo(nvml.CLOCK_SM)
	return mhz, nvmlError(ret)
}

func (g goNVMLDevice) TotalEnergyConsumption() (uint64, error) {
	mj, ret := g.d.GetTotalEnergyConsumption()
	return mj, nvmlError(ret)
}

func (g goNVMLDevice) ComputeProcesses(dst []nvmlProcess) ([]nvmlProcess, error) {
	ps, ret := g.d.GetComputeRunningProcesses()
	if err := nvmlError(ret); err != nil {
		return dst, err
	}
	for _, p := range ps {
		dst = append(dst, nvmlProcess{PID: p.Pid, UsedBytes: p.UsedGpuMemory})
	}
	return dst, nil
}

func (g goNVMLDevice) ProcessUtilization(lastSeen uint64, dst []nvmlProcessUtil) ([]nvmlProcessUtil, error) {
	us, ret := g.d.GetProcessUtilization(lastSeen)
	if err := nvmlError(ret); err != nil {
		return dst, err
	}
	for _, u := range us {
		dst = append(dst, nvmlProcessUtil{PID: u.Pid, TimeStamp: u.TimeStamp, SMUtil: u.SmUtil})
	}
	return dst, nil
}
