//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// conn is one connection: its descriptor and the reply read so far.
type conn struct {
	fd  int
	buf []byte
	n   int
}

// load runs n requests over conns connections to host:port and returns how many completed.
func load(host, port string, req []byte, conns, n int) (int, error) {
	ip := net.ParseIP(host).To4()
	if ip == nil || !ip.IsLoopback() {
		return 0, fmt.Errorf("host %q: an IPv4 loopback address only", host)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return 0, fmt.Errorf("port %q: %w", port, err)
	}
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return 0, err
	}
	defer syscall.Close(ep)
	byFD := map[int32]*conn{}
	defer func() {
		for _, c := range byFD {
			syscall.Close(c.fd)
		}
	}()
	sent := 0
	for range conns {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return 0, err
		}
		c := &conn{fd: fd, buf: make([]byte, 16<<10)}
		byFD[int32(fd)] = c
		if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: p, Addr: [4]byte(ip)}); err != nil {
			return 0, fmt.Errorf("connect: %w", err)
		}
		_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
		if err := syscall.SetNonblock(fd, true); err != nil {
			return 0, err
		}
		if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}); err != nil {
			return 0, err
		}
		if err := send(fd, req); err != nil {
			return 0, err
		}
		sent++
	}
	events := make([]syscall.EpollEvent, conns)
	done := 0
	for done < n {
		k, err := syscall.EpollWait(ep, events, 10_000)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return done, err
		}
		if k == 0 {
			return done, errors.New("no reply for 10 s")
		}
		for _, ev := range events[:k] {
			c := byFD[ev.Fd]
			m, err := syscall.Read(c.fd, c.buf[c.n:])
			if errors.Is(err, syscall.EAGAIN) {
				continue
			}
			if err != nil {
				return done, fmt.Errorf("read: %w", err)
			}
			if m == 0 {
				return done, errors.New("server closed a connection")
			}
			c.n += m
			whole, err := complete(c.buf[:c.n])
			if err != nil {
				return done, err
			}
			if !whole {
				if c.n == len(c.buf) {
					return done, errors.New("reply larger than 16 KiB")
				}
				continue
			}
			c.n = 0
			done++
			if sent < n {
				if err := send(c.fd, req); err != nil {
					return done, err
				}
				sent++
			}
		}
	}
	return done, nil
}

// send writes the whole request; it is small, so the socket's buffer always takes it at once.
func send(fd int, req []byte) error {
	m, err := syscall.Write(fd, req)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if m != len(req) {
		return fmt.Errorf("short write: %d of %d bytes", m, len(req))
	}
	return nil
}

// complete reports whether b holds a whole 200 reply with a Content-Length body.
func complete(b []byte) (bool, error) {
	head := bytes.Index(b, []byte("\r\n\r\n"))
	if head < 0 {
		return false, nil
	}
	if !bytes.HasPrefix(b, []byte("HTTP/1.1 200 ")) {
		line, _, _ := bytes.Cut(b, []byte("\r\n"))
		return false, fmt.Errorf("reply %q", line)
	}
	i := bytes.Index(bytes.ToLower(b[:head+2]), []byte("\r\ncontent-length:"))
	if i < 0 {
		return false, errors.New("reply without Content-Length")
	}
	v, _, _ := bytes.Cut(b[i+len("\r\ncontent-length:"):head+2], []byte("\r\n"))
	length, err := strconv.Atoi(string(bytes.TrimSpace(v)))
	if err != nil {
		return false, fmt.Errorf("Content-Length %q", v)
	}
	return len(b) >= head+4+length, nil
}
