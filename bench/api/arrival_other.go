//go:build !linux

package api

import (
	"net"
	"time"
)

// arrivalClock reads plainly where the kernel's receive timestamps are not used: the arrival
// time is taken when the read returns.
type arrivalClock struct{}

func (a *arrivalClock) init(net.Conn) {}

func (a *arrivalClock) read(nc net.Conn, p []byte) (int, time.Time, error) {
	n, err := nc.Read(p)
	return n, time.Time{}, err
}

// kernelArrival says whether the own path stamps chunk arrivals with the kernel's receive time.
const kernelArrival = false
