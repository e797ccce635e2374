package gpu

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/llmload/llmload/bench/results"
)

// NVML kills the process, with no panic to recover, in two cases: any call after Init
// failed to load the library, and any call to a function the installed driver lacks. The
// backend below is the only code that talks to NVML, and it keeps two rules:
//
//  1. after lib.Init returns an error, nothing else is called on lib, not even Shutdown;
//  2. every function is looked up with lib.LookupSymbol once, at open, and one that is
//     missing is never called: its reading is marked missing (or, for the few the backend
//     cannot do without, the backend is unavailable).
//
// After Close no call reaches the library either, since it is unloaded then.

// nvmlLib is the part of NVML the backend uses. The real one wraps go-nvml (nvml_cgo.go);
// tests use a fake that records every call.
type nvmlLib interface {
	Init() error
	Shutdown() error
	LookupSymbol(name string) error
	DriverVersion() (string, error)
	DeviceCount() (int, error)
	Device(index int) (nvmlDevice, error)
}

// nvmlDevice reads one device. Memory is in bytes, power in mW, energy in mJ, as NVML
// gives them.
type nvmlDevice interface {
	Name() (string, error)
	UUID() (string, error)
	MemoryInfoV2() (used, total uint64, err error)
	MemoryInfo() (used, total uint64, err error) // v1: Used includes driver-reserved memory
	UtilizationRates() (gpu, memory uint32, err error)
	PowerUsage() (milliwatts uint32, err error)
	Temperature() (celsius uint32, err error)
	SMClock() (mhz uint32, err error)
	TotalEnergyConsumption() (millijoules uint64, err error)
	// ComputeProcesses appends the processes using the device to dst.
	ComputeProcesses(dst []nvmlProcess) ([]nvmlProcess, error)
	// ProcessUtilization appends the per-process utilization samples NVML took after
	// lastSeen (its own microsecond clock) to dst; errNoSamples when it took none.
	ProcessUtilization(lastSeen uint64, dst []nvmlProcessUtil) ([]nvmlProcessUtil, error)
}

// nvmlProcessUtil is one entry of GetProcessUtilization: a process's share of the GPU's
// time (its kernels' SM utilization, in percent) at a moment of NVML's clock.
type nvmlProcessUtil struct {
	PID       uint32
	TimeStamp uint64
	SMUtil    uint32
}

// nvmlProcess is one entry of GetComputeRunningProcesses.
type nvmlProcess struct {
	PID       uint32
	UsedBytes uint64 // notAvailable when NVML cannot tell
}

// notAvailable is NVML_VALUE_NOT_AVAILABLE as an unsigned 64-bit value.
const notAvailable = math.MaxUint64

var (
	// errLibraryNotFound is what Init returns when libnvidia-ml cannot be loaded.
	errLibraryNotFound = errors.New("no NVIDIA driver (libnvidia-ml.so.1 not found)")
	// errNotSupported is a device saying it cannot give a reading at all.
	errNotSupported = errors.New("not supported by this device")
	// errNoSamples is NVML holding no utilization sample newer than the one asked after:
	// no process ran a kernel since.
	errNoSamples = errors.New("no samples since the last reading")
)

// feature is one NVML function the backend may call, with the symbols that provide it.
// go-nvml calls the newest versioned symbol present, so any one of them will do.
type feature int

const (
	featDeviceCount feature = iota
	featDeviceHandle
	featDriverVersion
	featName
	featUUID
	featMemoryV2
	featMemoryV1
	featUtilization
	featPower
	featTemperature
	featSMClock
	featEnergy
	featProcesses
	featProcessUtil
	numFeatures
)

// symbols lists the driver symbols that provide f.
func (f feature) symbols() []string {
	switch f {
	case featDeviceCount:
		return []string{"nvmlDeviceGetCount_v2", "nvmlDeviceGetCount"}
	case featDeviceHandle:
		return []string{"nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex"}
	case featDriverVersion:
		return []string{"nvmlSystemGetDriverVersion"}
	case featName:
		return []string{"nvmlDeviceGetName"}
	case featUUID:
		return []string{"nvmlDeviceGetUUID"}
	case featMemoryV2:
		return []string{"nvmlDeviceGetMemoryInfo_v2"}
	case featMemoryV1:
		return []string{"nvmlDeviceGetMemoryInfo"}
	case featUtilization:
		return []string{"nvmlDeviceGetUtilizationRates"}
	case featPower:
		return []string{"nvmlDeviceGetPowerUsage"}
	case featTemperature:
		return []string{"nvmlDeviceGetTemperature"}
	case featSMClock:
		return []string{"nvmlDeviceGetClockInfo"}
	case featEnergy:
		return []string{"nvmlDeviceGetTotalEnergyConsumption"}
	case featProcesses:
		return []string{
			"nvmlDeviceGetComputeRunningProcesses_v3",
			"nvmlDeviceGetComputeRunningProcesses_v2",
			"nvmlDeviceGetComputeRunningProcesses",
		}
	case featProcessUtil:
		return []string{"nvmlDeviceGetProcessUtilization"}
	}
	return nil
}

// featureSet has a bit per feature.
type featureSet uint32

func (s featureSet) has(f feature) bool { return s&(1<<f) != 0 }

// nvmlBackend samples devices through NVML.
type nvmlBackend struct {
	mu     sync.Mutex // Read and Close may come from different goroutines
	lib    nvmlLib
	closed bool
	driver string
	devs   []nvmlDev
	info   []results.GPUDevice

	pid    int
	parent func(pid int) (int, error)
	// owner caches, per PID NVML listed, whether it is Options.PID or a descendant.
	owner map[uint32]ownership
	procs []nvmlProcess     // reused between reads
	utils []nvmlProcessUtil // reused between reads
	errs  []error           // reused between reads
}

type nvmlDev struct {
	h   nvmlDevice
	has featureSet // symbol present and not refused with NOT_SUPPORTED
	// lastSeen is the newest per-process utilization sample read, on NVML's clock.
	lastSeen uint64
}

type ownership uint8

const (
	notOwned ownership = iota
	owned
	foreign // not a process this machine's /proc knows: another PID namespace
)

// maxOwnerCache bounds the PID cache; it is cleared when full.
const maxOwnerCache = 1024

// openNVML initializes NVML and the selected devices. parent finds a process's parent, for
// per-process memory. The notices say which readings this driver or device cannot give.
func openNVML(lib nvmlLib, opts Options, parent func(int) (int, error)) (*nvmlBackend, []string, error) {
	if err := lib.Init(); err != nil {
		// Rule 1: the library may not even be loaded; any further call could kill us.
		if errors.Is(err, errLibraryNotFound) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("nvml init: %w", err)
	}
	b := &nvmlBackend{lib: lib, pid: opts.PID, parent: parent, owner: map[uint32]ownership{}}
	notices, err := b.setup(opts.Indices)
	if err != nil {
		_ = lib.Shutdown()
		return nil, nil, err
	}
	return b, notices, nil
}

func (b *nvmlBackend) setup(indices []int) ([]string, error) {
	var present featureSet
	for f := range numFeatures {
		for _, sym := range f.symbols() {
			if b.lib.LookupSymbol(sym) == nil {
				present |= 1 << f
				break
			}
		}
	}
	for _, f := range []feature{featDeviceCount, featDeviceHandle} {
		if !present.has(f) {
			return nil, fmt.Errorf("nvml: driver lacks %s", f.symbols()[0])
		}
	}
	if !present.has(featMemoryV1) && !present.has(featMemoryV2) {
		return nil, fmt.Errorf("nvml: driver lacks %s", featMemoryV1.symbols()[0])
	}

	var notices []string
	if present.has(featDriverVersion) {
		if v, err := b.lib.DriverVersion(); err == nil {
			b.driver = v
		}
	}
	if !present.has(featMemoryV2) {
		notices = append(notices, "gpu: this driver lacks nvmlDeviceGetMemoryInfo_v2: memory used includes driver-reserved memory (more than nvidia-smi shows)")
	}
	for _, f := range []feature{featUtilization, featPower, featTemperature, featSMClock, featEnergy} {
		if !present.has(f) {
			notices = append(notices, fmt.Sprintf("gpu: this driver lacks %s: not recorded", f.symbols()[0]))
		}
	}
	if b.pid != 0 && !present.has(featProcesses) {
		notices = append(notices, "gpu: this driver lacks nvmlDeviceGetComputeRunningProcesses: per-process memory not recorded")
	}
	if b.pid != 0 && !present.has(featProcessUtil) {
		notices = append(notices, "gpu: this driver lacks nvmlDeviceGetProcessUtilization: other processes' use of the GPU not recorded")
	}

	count, err := b.lib.DeviceCount()
	if err != nil {
		return nil, fmt.Errorf("nvml device count: %w", err)
	}
	if count == 0 {
		return nil, errors.New("nvml: no GPU found")
	}
	if indices == nil {
		for i := range count {
			indices = append(indices, i)
		}
	}
	for _, i := range indices {
		if i >= count {
			return nil, &IndexError{Index: i, Reason: fmt.Sprintf("only %d device(s) present", count)}
		}
		h, err := b.lib.Device(i)
		if err != nil {
			return nil, fmt.Errorf("nvml device %d: %w", i, err)
		}
		d := nvmlDev{h: h, has: present}
		info := results.GPUDevice{Index: i}
		if present.has(featName) {
			info.Name, _ = h.Name() // a nameless device still samples
		}
		if present.has(featUUID) {
			info.UUID, _ = h.UUID()
		}
		var s results.GPUSample
		switch err := d.readMemory(&s); {
		case err != nil:
			if errors.Is(err, errNotSupported) {
				d.has &^= 1<<featMemoryV2 | 1<<featMemoryV1
			}
			notices = append(notices, fmt.Sprintf("gpu: device %d (%s): memory: %v", i, info.Name, err))
		case s.Has(results.GPUMemoryTotal):
			info.MemoryTotalMiB = s.MemoryTotalMiB
		default:
			// MIG-enabled parents and some virtual GPUs report no memory of their own.
			notices = append(notices, fmt.Sprintf("gpu: device %d (%s) reports no memory total: memory not recorded for it", i, info.Name))
		}
		b.devs = append(b.devs, d)
		b.info = append(b.info, info)
	}
	return notices, nil
}

func (b *nvmlBackend) Name() string { return ModeNVML }

func (b *nvmlBackend) Devices() []results.GPUDevice {
	return append([]results.GPUDevice(nil), b.info...)
}

// Read reads every device; a failed call marks its reading missing and is reported in the
// error, and the rest of the round goes on.
func (b *nvmlBackend) Read(dst []results.GPUSample) ([]results.GPUSample, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return dst, ErrClosed
	}
	b.errs = b.errs[:0]
	for i := range b.devs {
		d := &b.devs[i]
		s := results.GPUSample{Device: b.info[i].Index}
		b.note(i, "memory", d.readMemory(&s), featMemoryV2)
		if d.has.has(featUtilization) {
			g, m, err := d.h.UtilizationRates()
			if b.note(i, "utilization", err, featUtilization) {
				s.Set(results.GPUUtilization, float64(g))
				s.Set(results.GPUMemoryUtil, float64(m))
			}
		}
		if d.has.has(featPower) {
			mw, err := d.h.PowerUsage()
			if b.note(i, "power", err, featPower) {
				s.Set(results.GPUPower, float64(mw)/1000)
			}
		}
		if d.has.has(featTemperature) {
			c, err := d.h.Temperature()
			if b.note(i, "temperature", err, featTemperature) {
				s.Set(results.GPUTemperature, float64(c))
			}
		}
		if d.has.has(featSMClock) {
			mhz, err := d.h.SMClock()
			if b.note(i, "sm clock", err, featSMClock) {
				s.Set(results.GPUSMClock, float64(mhz))
			}
		}
		if d.has.has(featEnergy) {
			mj, err := d.h.TotalEnergyConsumption()
			if b.note(i, "energy", err, featEnergy) {
				s.Set(results.GPUEnergy, float64(mj)/1000)
			}
		}
		if b.pid != 0 && d.has.has(featProcesses) {
			b.readProcessMemory(i, &s)
		}
		if b.pid != 0 && d.has.has(featProcessUtil) {
			b.readOthersUtil(i, &s)
		}
		dst = append(dst, s)
	}
	if len(b.errs) == 0 {
		return dst, nil
	}
	return dst, errors.Join(b.errs...)
}

// note records a failed call and reports whether the call succeeded. A device refusing a
// reading with NOT_SUPPORTED is not asked again.
func (b *nvmlBackend) note(dev int, what string, err error, f feature) bool {
	if err == nil {
		return true
	}
	if errors.Is(err, errNotSupported) {
		b.devs[dev].has &^= 1 << f
		if f == featMemoryV2 {
			b.devs[dev].has &^= 1 << featMemoryV1
		}
	}
	b.errs = append(b.errs, fmt.Errorf("device %d: %s: %w", b.info[dev].Index, what, err))
	return false
}

// readMemory fills memory used and total, from v2 when the driver has it.
func (d *nvmlDev) readMemory(s *results.GPUSample) error {
	var used, total uint64
	var err error
	switch {
	case d.has.has(featMemoryV2):
		used, total, err = d.h.MemoryInfoV2()
	case d.has.has(featMemoryV1):
		used, total, err = d.h.MemoryInfo()
	default:
		return nil
	}
	if err != nil {
		return err
	}
	if total == 0 {
		return nil // no memory of its own (MIG parent): missing, not zero
	}
	s.Set(results.GPUMemoryUsed, mib(used))
	s.Set(results.GPUMemoryTotal, mib(total))
	return nil
}

// readProcessMemory sums the memory of Options.PID and its descendants on one device, and
// apart from it the memory of every other process.
func (b *nvmlBackend) readProcessMemory(dev int, s *results.GPUSample) {
	var err error
	b.procs, err = b.devs[dev].h.ComputeProcesses(b.procs[:0])
	if !b.note(dev, "processes", err, featProcesses) {
		return
	}
	var used, others uint64
	known, othersKnown, foreignOnly := true, true, len(b.procs) > 0
	for _, p := range b.procs {
		o := b.owns(p.PID)
		if o != foreign {
			foreignOnly = false
		}
		if p.UsedBytes == notAvailable {
			// NVML cannot see this process's memory (permissions, WDDM).
			if o == owned {
				known = false
			} else {
				othersKnown = false
			}
			continue
		}
		if o == owned {
			used += p.UsedBytes
		} else {
			others += p.UsedBytes
		}
	}
	if foreignOnly && used == 0 {
		// With every PID unknown here, NVML sees another PID namespace (a container):
		// "the server holds 0 MiB" would be a guess, and so would "the others hold it all".
		return
	}
	if known {
		s.Set(results.GPUProcessMemory, mib(used))
	}
	if othersKnown {
		s.Set(results.GPUOthersMemory, mib(others))
	}
}

// owns is whether pid is Options.PID or its descendant, cached.
func (b *nvmlBackend) owns(pid uint32) ownership {
	if len(b.owner) > maxOwnerCache {
		clear(b.owner)
	}
	o, ok := b.owner[pid]
	if !ok {
		o = b.ownership(pid)
		b.owner[pid] = o
	}
	return o
}

// readOthersUtil sums, over the processes not of the server's tree, the share of the GPU's
// time their kernels ran in NVML's newest sample of each since the last reading. No sample
// since then means no process ran a kernel: 0. In another PID namespace, where no process
// NVML names is known here, the server cannot be told from the others: nothing is recorded.
func (b *nvmlBackend) readOthersUtil(dev int, s *results.GPUSample) {
	d := &b.devs[dev]
	var err error
	b.utils, err = d.h.ProcessUtilization(d.lastSeen, b.utils[:0])
	if errors.Is(err, errNoSamples) {
		s.Set(results.GPUOthersUtil, 0)
		return
	}
	if !b.note(dev, "process utilization", err, featProcessUtil) {
		return
	}
	latest := map[uint32]nvmlProcessUtil{}
	for _, u := range b.utils {
		d.lastSeen = max(d.lastSeen, u.TimeStamp)
		if have, ok := latest[u.PID]; !ok || u.TimeStamp >= have.TimeStamp {
			latest[u.PID] = u
		}
	}
	var others uint32
	foreignOnly := len(latest) > 0
	for pid, u := range latest {
		o := b.owns(pid)
		if o != foreign {
			foreignOnly = false
		}
		if o != owned {
			others += u.SMUtil
		}
	}
	if foreignOnly {
		return
	}
	s.Set(results.GPUOthersUtil, float64(min(others, 100)))
}

// ownership walks up from pid to see whether it descends from b.pid.
func (b *nvmlBackend) ownership(pid uint32) ownership {
	p := int(pid)
	for depth := 0; depth < 64; depth++ {
		if p == b.pid {
			return owned
		}
		if p <= 1 {
			return notOwned
		}
		next, err := b.parent(p)
		if err != nil {
			if depth == 0 {
				return foreign
			}
			return notOwned
		}
		p = next
	}
	return notOwned
}

// Close shuts NVML down once; later Reads touch nothing.
func (b *nvmlBackend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if err := b.lib.Shutdown(); err != nil {
		return fmt.Errorf("nvml shutdown: %w", err)
	}
	return nil
}

func mib(bytes uint64) float64 { return float64(bytes) / (1 << 20) }
