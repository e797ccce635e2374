package bench

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/llmload/llmload/bench/sim"
	"github.com/llmload/llmload/gpu"
)

// RemoteSimGPU reads the simulated GPU of a simulator in another process (`llmload sim`), for
// the GPU sampler. A failed read gives NaN readings, which the sampler records as missing.
func RemoteSimGPU(baseURL string) func() gpu.SimReading {
	// It follows no redirect, as api.Client follows none: the URL's credentials go nowhere else.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	url := strings.TrimRight(baseURL, "/") + sim.GPUPath
	return func() gpu.SimReading {
		missing := gpu.SimReading{MemoryUsedMiB: math.NaN(), MemoryTotalMiB: math.NaN(), UtilizationPct: math.NaN(), PowerW: math.NaN(), EnergyJ: math.NaN()}
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err != nil {
			return missing
		}
		defer resp.Body.Close()
		var st sim.GPUState
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&st) != nil {
			return missing
		}
		return gpu.SimReading{Name: st.Name, MemoryUsedMiB: st.MemoryUsedMiB, MemoryTotalMiB: st.MemoryTotalMiB, UtilizationPct: st.UtilizationPct, PowerW: st.PowerW, EnergyJ: st.EnergyJ}
	}
}
