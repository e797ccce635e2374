//go:build !linux

package main

import "errors"

func load(host, port string, req []byte, conns, n int) (int, error) {
	return 0, errors.New("epoll: Linux only")
}
