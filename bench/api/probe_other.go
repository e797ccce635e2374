//go:build !unix

package api

import "net"

// probe is a no-op where there is no non-blocking read to ask with: a connection the server
// closed while idle then fails its next request.
type probe struct{}

func (p *probe) init(net.Conn) {}

func (p *probe) open() bool { return true }
