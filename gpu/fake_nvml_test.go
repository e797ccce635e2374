package gpu

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// fakeNVML stands in for the driver. Every call is logged so tests can assert what was
// never called: on a real machine those calls would kill the process.
type fakeNVML struct {
	mu      sync.Mutex
	calls   []string
	initErr error
	missing map[string]bool // symbols the "driver" lacks
	devices []*fakeDevice
	// shutdown is set by Shutdown; any later call is an error in the test.
	shutdown bool
	// quiet stops logging calls, for benchmarks.
	quiet bool
}

type fakeDevice struct {
	lib        *fakeNVML
	index      int
	name       string
	usedBytes  uint64
	totalBytes uint64
	util, mem  uint32
	mw         uint32
	tempC      uint32
	smMHz      uint32
	energyMJ   uint64
	procs      []nvmlProcess
	utils      []nvmlProcessUtil // per-process samples; those after lastSeen are returned
	// errs maps a call name to the errors it returns on successive calls (nil = success);
	// after the list runs out the call succeeds.
	errs  map[string][]error
	count map[string]int
}

func newFake(devs ...*fakeDevice) *fakeNVML {
	f := &fakeNVML{missing: map[string]bool{}}
	for i, d := range devs {
		d.lib, d.index = f, i
		d.count = map[string]int{}
		if d.errs == nil {
			d.errs = map[string][]error{}
		}
		f.devices = append(f.devices, d)
	}
	return f
}

// h100 is a plausible device: 1000 MiB used of 81559 MiB.
func h100() *fakeDevice {
	return &fakeDevice{
		name: "NVIDIA H100 80GB HBM3", usedBytes: 1000 << 20, totalBytes: 81559 << 20,
		util: 42, mem: 17, mw: 123456, tempC: 35, smMHz: 1980, energyMJ: 5_000_000,
	}
}

func (f *fakeNVML) log(call string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.quiet {
		f.calls = append(f.calls, call)
	}
	if f.shutdown {
		return fmt.Errorf("fake: %s after Shutdown", call)
	}
	return nil
}

// called reports the calls whose name starts with prefix.
func (f *fakeNVML) called(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeNVML) Init() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "Init")
	return f.initErr
}

func (f *fakeNVML) Shutdown() error {
	err := f.log("Shutdown")
	f.mu.Lock()
	f.shutdown = true
	f.mu.Unlock()
	return err
}

func (f *fakeNVML) LookupSymbol(name string) error {
	if err := f.log("LookupSymbol " + name); err != nil {
		return err
	}
	if f.missing[name] {
		return errors.New("undefined symbol: " + name)
	}
	return nil
}

func (f *fakeNVML) DriverVersion() (string, error) {
	return "580.65.06", f.log("DriverVersion")
}

func (f *fakeNVML) DeviceCount() (int, error) {
	return len(f.devices), f.log("DeviceCount")
}

func (f *fakeNVML) Device(i int) (nvmlDevice, error) {
	if err := f.log(fmt.Sprint("Device ", i)); err != nil {
		return nil, err
	}
	if i >= len(f.devices) {
		return nil, errors.New("fake: invalid argument")
	}
	return f.devices[i], nil
}

// call logs "dev<i>.<name>", enforces the symbol rule (go-nvml calls whichever of symbols
// the driver has), and returns the scripted error.
func (d *fakeDevice) call(name string, symbols ...string) error {
	if d.lib.quiet {
		return nil
	}
	if err := d.lib.log(fmt.Sprintf("dev%d.%s", d.index, name)); err != nil {
		return err
	}
	lacking := 0
	for _, s := range symbols {
		if d.lib.missing[s] {
			lacking++
		}
	}
	if lacking == len(symbols) {
		// The real driver would kill the process here.
		return fmt.Errorf("fake: FATAL: %s called but the driver lacks it", symbols[0])
	}
	d.lib.mu.Lock()
	defer d.lib.mu.Unlock()
	n := d.count[name]
	d.count[name]++
	if n < len(d.errs[name]) {
		return d.errs[name][n]
	}
	return nil
}

func (d *fakeDevice) Name() (string, error) { return d.name, d.call("Name", "nvmlDeviceGetName") }
func (d *fakeDevice) UUID() (string, error) {
	return fmt.Sprintf("GPU-%d", d.index), d.call("UUID", "nvmlDeviceGetUUID")
}

func (d *fakeDevice) MemoryInfoV2() (uint64, uint64, error) {
	return d.usedBytes, d.totalBytes, d.call("MemoryInfoV2", "nvmlDeviceGetMemoryInfo_v2")
}

func (d *fakeDevice) MemoryInfo() (uint64, uint64, error) {
	// v1 counts driver-reserved memory as used.
	return d.usedBytes + 480<<20, d.totalBytes, d.call("MemoryInfo", "nvmlDeviceGetMemoryInfo")
}

func (d *fakeDevice) UtilizationRates() (uint32, uint32, error) {
	return d.util, d.mem, d.call("UtilizationRates", "nvmlDeviceGetUtilizationRates")
}

func (d *fakeDevice) PowerUsage() (uint32, error) {
	return d.mw, d.call("PowerUsage", "nvmlDeviceGetPowerUsage")
}

func (d *fakeDevice) Temperature() (uint32, error) {
	return d.tempC, d.call("Temperature", "nvmlDeviceGetTemperature")
}

func (d *fakeDevice) SMClock() (uint32, error) {
	return d.smMHz, d.call("SMClock", "nvmlDeviceGetClockInfo")
}

func (d *fakeDevice) TotalEnergyConsumption() (uint64, error) {
	return d.energyMJ, d.call("TotalEnergyConsumption", "nvmlDeviceGetTotalEnergyConsumption")
}

func (d *fakeDevice) ComputeProcesses(dst []nvmlProcess) ([]nvmlProcess, error) {
	if err := d.call("ComputeProcesses", "nvmlDeviceGetComputeRunningProcesses_v3",
		"nvmlDeviceGetComputeRunningProcesses_v2", "nvmlDeviceGetComputeRunningProcesses"); err != nil {
		return dst, err
	}
	return append(dst, d.procs...), nil
}

func (d *fakeDevice) ProcessUtilization(lastSeen uint64, dst []nvmlProcessUtil) ([]nvmlProcessUtil, error) {
	if err := d.call("ProcessUtilization", "nvmlDeviceGetProcessUtilization"); err != nil {
		return dst, err
	}
	n := len(dst)
	for _, u := range d.utils {
		if u.TimeStamp > lastSeen {
			dst = append(dst, u)
		}
	}
	if len(dst) == n {
		return dst, errNoSamples
	}
	return dst, nil
}

// fakeLib returns a newLib func for open.
func fakeLib(f *fakeNVML) func() (nvmlLib, error) {
	return func() (nvmlLib, error) { return f, nil }
}
