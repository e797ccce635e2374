//go:build linux && cgo

package cudamem

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>

// The few CUDA driver API types used, declared here so that no cuda.h is needed.
typedef int cu_result;
typedef int cu_device;
typedef void *cu_context;
typedef unsigned long long cu_ptr;

typedef struct {
	void *lib;
	cu_result (*init)(unsigned int);
	cu_result (*device_get)(cu_device *, int);
	cu_result (*primary_retain)(cu_context *, cu_device);
	cu_result (*primary_release)(cu_device);
	cu_result (*set_current)(cu_context);
	cu_result (*mem_alloc)(cu_ptr *, size_t);
	cu_result (*mem_free)(cu_ptr);
	cu_result (*memset_d32)(cu_ptr, unsigned int, size_t);
	cu_result (*synchronize)(void);
} cuda_api;

static void *sym(void *lib, const char *a, const char *b) {
	void *p = dlsym(lib, a);
	if (!p && b) p = dlsym(lib, b);
	return p;
}

// cuda_open loads libcuda.so.1 and its functions; it returns NULL or what went wrong.
static const char *cuda_open(cuda_api *a) {
	a->lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!a->lib) return dlerror();
	if (!(*(void **)&a->init = sym(a->lib, "cuInit", NULL))) return "cuInit missing";
	if (!(*(void **)&a->device_get = sym(a->lib, "cuDeviceGet", NULL))) return "cuDeviceGet missing";
	if (!(*(void **)&a->primary_retain = sym(a->lib, "cuDevicePrimaryCtxRetain", NULL))) return "cuDevicePrimaryCtxRetain missing";
	if (!(*(void **)&a->primary_release = sym(a->lib, "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease"))) return "cuDevicePrimaryCtxRelease missing";
	if (!(*(void **)&a->set_current = sym(a->lib, "cuCtxSetCurrent", NULL))) return "cuCtxSetCurrent missing";
	if (!(*(void **)&a->mem_alloc = sym(a->lib, "cuMemAlloc_v2", NULL))) return "cuMemAlloc_v2 missing";
	if (!(*(void **)&a->mem_free = sym(a->lib, "cuMemFree_v2", NULL))) return "cuMemFree_v2 missing";
	if (!(*(void **)&a->memset_d32 = sym(a->lib, "cuMemsetD32_v2", NULL))) return "cuMemsetD32_v2 missing";
	if (!(*(void **)&a->synchronize = sym(a->lib, "cuCtxSynchronize", NULL))) return "cuCtxSynchronize missing";
	return NULL;
}

static cu_result cuda_init(cuda_api *a) { return a->init(0); }
static cu_result cuda_device_get(cuda_api *a, cu_device *d, int ordinal) { return a->device_get(d, ordinal); }
static cu_result cuda_retain(cuda_api *a, cu_context *c, cu_device d) { return a->primary_retain(c, d); }
static cu_result cuda_release(cuda_api *a, cu_device d) { return a->primary_release(d); }
static cu_result cuda_set_current(cuda_api *a, cu_context c) { return a->set_current(c); }
static cu_result cuda_alloc(cuda_api *a, cu_ptr *p, size_t n) { return a->mem_alloc(p, n); }
static cu_result cuda_free(cuda_api *a, cu_ptr p) { return a->mem_free(p); }
static cu_result cuda_memset(cuda_api *a, cu_ptr p, unsigned int v, size_t n) { return a->memset_d32(p, v, n); }
static cu_result cuda_sync(cuda_api *a) { return a->synchronize(); }
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
)

// Hold allocates bytes on the CUDA device with the given ordinal and keeps them until
// release is called. With busy, the GPU rewrites the memory in a loop meanwhile, so that
// utilization and power rise. CUDA ordinals follow CUDA_DEVICE_ORDER, which may differ from
// NVML's indices on machines with several GPUs.
func Hold(ordinal int, bytes int64, busy bool) (release func() error, err error) {
	ready := make(chan error, 1)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		// A CUDA context is current per OS thread: the whole life of this one runs on one.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		done <- hold(ordinal, bytes, busy, ready, stop)
	}()
	if err := <-ready; err != nil {
		<-done
		return nil, err
	}
	return func() error {
		close(stop)
		return <-done
	}, nil
}

func hold(ordinal int, bytes int64, busy bool, ready chan<- error, stop <-chan struct{}) error {
	var api C.cuda_api
	if msg := C.cuda_open(&api); msg != nil {
		err := fmt.Errorf("cuda: load libcuda.so.1: %s", C.GoString(msg))
		ready <- err
		return err
	}
	check := func(what string, r C.cu_result) error {
		if r != 0 {
			return fmt.Errorf("cuda: %s: error %d", what, int(r))
		}
		return nil
	}
	var dev C.cu_device
	var ctx C.cu_context
	var ptr C.cu_ptr
	err := check("cuInit", C.cuda_init(&api))
	if err == nil {
		err = check("cuDeviceGet", C.cuda_device_get(&api, &dev, C.int(ordinal)))
	}
	if err == nil {
		err = check("cuDevicePrimaryCtxRetain", C.cuda_retain(&api, &ctx, dev))
		if err == nil {
			defer C.cuda_release(&api, dev)
		}
	}
	if err == nil {
		err = check("cuCtxSetCurrent", C.cuda_set_current(&api, ctx))
	}
	if err == nil {
		err = check("cuMemAlloc", C.cuda_alloc(&api, &ptr, C.size_t(bytes)))
	}
	if err == nil {
		// Touch the memory once so that it is really backed.
		err = errors.Join(check("cuMemsetD32", C.cuda_memset(&api, ptr, 1, C.size_t(bytes/4))),
			check("cuCtxSynchronize", C.cuda_sync(&api)))
		if err != nil {
			C.cuda_free(&api, ptr)
		}
	}
	ready <- err
	if err != nil {
		return err
	}
	for {
		select {
		case <-stop:
			return check("cuMemFree", C.cuda_free(&api, ptr))
		default:
		}
		if !busy {
			<-stop
			continue
		}
		if err := errors.Join(check("cuMemsetD32", C.cuda_memset(&api, ptr, 2, C.size_t(bytes/4))),
			check("cuCtxSynchronize", C.cuda_sync(&api))); err != nil {
			C.cuda_free(&api, ptr)
			<-stop
			return err
		}
	}
}
