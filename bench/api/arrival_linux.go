//go:build linux

package api

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// arrivalClock reads a connection with recvmsg and asks the kernel (SO_TIMESTAMPNS) when the
// newest bytes of each read arrived. A time taken after the read returns also counts how long
// the reading goroutine waited for a CPU, which on a busy machine (a local LLM server beside
// the client, hundreds of streams) is often more than the gap being measured; the kernel's
// time does not.
type arrivalClock struct {
	rc   syscall.RawConn
	fn   func(fd uintptr) bool // made once per connection
	p    []byte
	n    int
	oobn int
	err  error
	oob  [64]byte
}

// init turns timestamps on; without them (not a TCP connection, an old kernel) reads are plain.
func (a *arrivalClock) init(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return
	}
	a.rc = rc
	a.fn = func(fd uintptr) bool {
		a.n, a.oobn, _, _, a.err = syscall.Recvmsg(int(fd), a.p, a.oob[:], 0)
		return a.err != syscall.EAGAIN // EAGAIN: wait until readable, then call again
	}
}

// read reads once into p. at is when the kernel received the newest of the bytes read, or the
// zero time when it did not say.
func (a *arrivalClock) read(nc net.Conn, p []byte) (n int, at time.Time, err error) {
	if a.rc == nil {
		n, err = nc.Read(p)
		return n, time.Time{}, err
	}
	a.p = p
	err = a.rc.Read(a.fn)
	a.p = nil
	switch {
	case err != nil: // a deadline passed (the request was aborted) or the connection closed
		return 0, time.Time{}, err
	case a.err == syscall.EINTR:
		return 0, time.Time{}, nil
	case a.err != nil:
		return 0, time.Time{}, &net.OpError{Op: "read", Net: "tcp", Source: nc.LocalAddr(), Addr: nc.RemoteAddr(), Err: os.NewSyscallError("recvmsg", a.err)}
	case a.n == 0:
		return 0, time.Time{}, io.EOF
	}
	return a.n, a.stamp(), nil
}

// stamp finds the SCM_TIMESTAMPNS message among the control messages of the last read.
func (a *arrivalClock) stamp() time.Time {
	const lenSize = int(unsafe.Sizeof(syscall.Cmsghdr{}.Len))
	const fieldSize = int(unsafe.Sizeof(syscall.Timespec{}.Sec))
	oob := a.oob[:a.oobn]
	for len(oob) >= syscall.CmsgLen(0) {
		var length int
		if lenSize == 8 {
			length = int(binary.NativeEndian.Uint64(oob))
		} else {
			length = int(binary.NativeEndian.Uint32(oob))
		}
		if length < syscall.CmsgLen(0) || length > len(oob) {
			break
		}
		level := int32(binary.NativeEndian.Uint32(oob[lenSize:]))
		typ := int32(binary.NativeEndian.Uint32(oob[lenSize+4:]))
		data := oob[syscall.CmsgLen(0):length]
		if level == syscall.SOL_SOCKET && typ == syscall.SCM_TIMESTAMPNS && len(data) >= 2*fieldSize {
			var sec, nsec int64
			if fieldSize == 8 {
				sec, nsec = int64(binary.NativeEndian.Uint64(data)), int64(binary.NativeEndian.Uint64(data[8:]))
			} else {
				sec, nsec = int64(int32(binary.NativeEndian.Uint32(data))), int64(int32(binary.NativeEndian.Uint32(data[4:])))
			}
			return time.Unix(sec, nsec)
		}
		next := syscall.CmsgSpace(length - syscall.CmsgLen(0))
		if next > len(oob) {
			break
		}
		oob = oob[next:]
	}
	return time.Time{}
}

// kernelArrival says whether the own path stamps chunk arrivals with the kernel's receive time.
const kernelArrival = true
