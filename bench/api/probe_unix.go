//go:build unix

package api

import (
	"net"
	"syscall"
)

// probe asks the kernel, without waiting, whether an idle connection is still open.
type probe struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // made once per connection: a closure per probe would allocate
	err error
	buf [1]byte
}

func (p *probe) init(nc net.Conn) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	p.rc = rc
	p.fn = func(fd uintptr) bool {
		var n int
		n, p.err = syscall.Read(int(fd), p.buf[:])
		if n == 0 && p.err == nil {
			p.err = errClosedByPeer
		} else if n > 0 {
			p.err = errUnsolicited
		}
		return true // never wait
	}
}

// open reports whether the connection is open with nothing to read: a server that closed it
// gives end of file, and bytes no request asked for mean it cannot be trusted either.
func (p *probe) open() bool {
	if p.rc == nil {
		return true
	}
	if err := p.rc.Read(p.fn); err != nil {
		return false
	}
	return p.err == syscall.EAGAIN || p.err == syscall.EINTR
}
