//go:build linux

package uring

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// tcpPairs returns n connected loopback TCP socket pairs as non-blocking descriptors.
func tcpPairs(t testing.TB, n int) (a, b []int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		a = append(a, dupFD(t, c))
		b = append(b, dupFD(t, s))
		c.Close()
		s.Close()
	}
	t.Cleanup(func() {
		for i := range a {
			syscall.Close(a[i])
			syscall.Close(b[i])
		}
	})
	return a, b
}

func dupFD(t testing.TB, c net.Conn) int {
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		t.Fatal(err)
	}
	return fd
}

func newRing(t testing.TB, size int) *Ring {
	r, err := New(size)
	if errors.Is(err, ErrUnavailable) {
		t.Skip("io_uring is not available here:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRing_SendsAndReceivesInOneSubmit(t *testing.T) {
	r := newRing(t, 8)
	a, b := tcpPairs(t, 3)
	msgs := [][]byte{[]byte("first"), []byte("second message"), []byte("3")}
	for i := range a {
		if got := r.Send(a[i], msgs[i]); got != i {
			t.Fatalf("Send index = %d, want %d", got, i)
		}
	}
	res, err := r.Submit()
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range res {
		if x.Err != 0 || x.N != len(msgs[i]) {
			t.Fatalf("send %d: %+v, want %d bytes", i, x, len(msgs[i]))
		}
	}
	bufs := make([][]byte, len(b))
	for i := range b {
		bufs[i] = make([]byte, 64)
		r.Recv(b[i], bufs[i])
	}
	// A socket with nothing to read answers EAGAIN instead of waiting.
	empty := make([]byte, 8)
	r.Recv(a[0], empty)
	res, err = r.Submit()
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		if res[i].Err != 0 || !bytes.Equal(bufs[i][:res[i].N], msgs[i]) {
			t.Fatalf("recv %d: %+v %q, want %q", i, res[i], bufs[i][:max(res[i].N, 0)], msgs[i])
		}
	}
	if res[3].Err != syscall.EAGAIN {
		t.Fatalf("recv on an empty socket: %+v, want EAGAIN", res[3])
	}
	// The end of the stream reads as 0 bytes; a write to a closed peer fails, without a SIGPIPE.
	syscall.Shutdown(a[1], syscall.SHUT_WR)
	r.Recv(b[1], bufs[1])
	syscall.Close(b[2])
	b[2], _ = syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0) // keep the cleanup's close harmless
	r.Send(a[2], bytes.Repeat([]byte("x"), 1<<20))
	res, err = r.Submit()
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != (Result{}) {
		t.Fatalf("recv at the end of the stream: %+v, want 0 bytes and no error", res[0])
	}
	if res[1].Err == 0 && res[1].N == 1<<20 {
		t.Fatalf("send to a closed peer: %+v, want an error or a short write", res[1])
	}
}

func TestRing_FullRingPanicsAndSizeIsChecked(t *testing.T) {
	for _, size := range []int{0, 3, 8192} {
		if _, err := New(size); err == nil || errors.Is(err, ErrUnavailable) {
			t.Fatalf("New(%d): %v, want a size error", size, err)
		}
	}
	r := newRing(t, 2)
	a, _ := tcpPairs(t, 1)
	r.Send(a[0], []byte("a"))
	r.Send(a[0], []byte("b"))
	defer func() {
		if recover() == nil {
			t.Fatal("a third operation on a ring of two did not panic")
		}
	}()
	r.Send(a[0], []byte("c"))
}

// The benchmarks compare, per socket operation, k send(2)+recv(2) pairs made one by one with the same
// operations in two Submits.
func benchPairs(b *testing.B, k int, batched bool) {
	r := newRing(b, 64)
	a, c := tcpPairs(b, k)
	msg := bytes.Repeat([]byte("h"), 200)
	bufs := make([][]byte, k)
	for i := range bufs {
		bufs[i] = make([]byte, 4096)
	}
	b.ResetTimer()
	for range b.N {
		if batched {
			for i := range a {
				r.Send(a[i], msg)
			}
			if _, err := r.Submit(); err != nil {
				b.Fatal(err)
			}
			for i := range c {
				r.Recv(c[i], bufs[i])
			}
			res, err := r.Submit()
			if err != nil {
				b.Fatal(err)
			}
			for _, x := range res {
				if x.N != len(msg) {
					b.Fatalf("%+v", x)
				}
			}
			continue
		}
		for i := range a {
			syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(a[i]), uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)), syscall.MSG_NOSIGNAL, 0, 0)
		}
		for i := range c {
			n, _, _ := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(c[i]), uintptr(unsafe.Pointer(&bufs[i][0])), 4096, 0, 0, 0)
			if int(n) != len(msg) {
				b.Fatal(n)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*2*k), "ns/socketop")
}

func BenchmarkSocketOps(b *testing.B) {
	for _, k := range []int{1, 2, 4, 8, 16} {
		b.Run("direct/k="+itoa(k), func(b *testing.B) { benchPairs(b, k, false) })
		b.Run("ring/k="+itoa(k), func(b *testing.B) { benchPairs(b, k, true) })
	}
}

func itoa(k int) string {
	if k < 10 {
		return string(rune('0' + k))
	}
	return string(rune('0'+k/10)) + string(rune('0'+k%10))
}

func TestRing_SubmitOnABrokenRingFails(t *testing.T) {
	r := newRing(t, 4)
	a, _ := tcpPairs(t, 1)
	null, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(null)
	if err := syscall.Dup3(null, r.FD(), syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r.Send(a[0], []byte("x"))
	if _, err := r.Submit(); err == nil || !strings.Contains(err.Error(), "io_uring_enter") {
		t.Fatalf("Submit on a closed ring = %v, want an io_uring_enter error", err)
	}
	if r.Pending() != 0 {
		t.Fatalf("Pending after a failed Submit = %d, want 0", r.Pending())
	}
}

func TestRing_ProbeSaysWhatTheKernelPerforms(t *testing.T) {
	r := newRing(t, 2)
	if !r.supports(opSend, opRecv) {
		t.Fatal("a ring was made, yet the probe says send or recv is not supported")
	}
	if r.supports(opSend, 255) {
		t.Fatal("the probe claims operation 255, which no kernel has")
	}
}
