package bench

import (
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// The simulated GPU of a simulator in another process is read from the target alone: a
// redirect is not followed, so neither the reading nor the URL's credentials go elsewhere.
func TestRemoteSimGPUFollowsNoRedirect(t *testing.T) {
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(`{"name":"elsewhere","memory_used_mib":1,"memory_total_mib":2}`))
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	read := RemoteSimGPU(strings.Replace(srv.URL, "http://", "http://alice:hunter22@", 1))
	if got := read(); !math.IsNaN(got.MemoryUsedMiB) || got.Name != "" || hits.Load() != 0 {
		t.Errorf("reading %+v, %d requests elsewhere", got, hits.Load())
	}
}
