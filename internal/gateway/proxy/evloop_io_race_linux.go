//go:build linux && race

package proxy

import "syscall"

// Under the race detector, syscall.Read and Write tell it that what one goroutine wrote to a socket
// happens before what another read from the other end, as net.Conn I/O does.
func sysRead(fd int, p []byte) (int, syscall.Errno) {
	n, err := syscall.Read(fd, p)
	if err != nil {
		return 0, err.(syscall.Errno)
	}
	return n, 0
}

func sysWrite(fd int, p []byte) (int, syscall.Errno) {
	n, err := syscall.Write(fd, p)
	if err != nil {
		return 0, err.(syscall.Errno)
	}
	return n, 0
}

// ringBuild says whether loops may batch their reads and writes with an io_uring (evring_linux.go).
const ringBuild = false
