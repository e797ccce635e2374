// Package hostloadtest gives tests a fake /proc for hostload.Meter, so that the noise logic
// (a machine busy with other work) is tested without real load.
package hostloadtest

import (
	"fmt"
	"io/fs"
	"sync/atomic"
	"testing/fstest"
)

// Ticking is a /proc whose CPU counters advance 100 ticks per reading of its stat file, all
// of them other processes' work (Busy) or idle time. It has no processes of its own, so
// everything counted as busy is someone else's.
type Ticking struct {
	Busy bool
	n    atomic.Uint64
}

// Open serves "stat"; any other name does not exist.
func (p *Ticking) Open(name string) (fs.File, error) {
	n := p.n.Add(1) * 100
	busy, idle := uint64(0), n
	if p.Busy {
		busy, idle = n, 0
	}
	return fstest.MapFS{"stat": {Data: fmt.Appendf(nil, "cpu  %d 0 0 %d 0 0 0 0 0 0\n", busy, idle)}}.Open(name)
}
