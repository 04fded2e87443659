//go:build linux

package uring

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

const (
	sysSetup    = 425 // io_uring_setup
	sysEnter    = 426 // io_uring_enter
	sysRegister = 427 // io_uring_register

	registerProbe = 8 // IORING_REGISTER_PROBE
	opSupported   = 1 // IO_URING_OP_SUPPORTED

	opSend = 26 // IORING_OP_SEND
	opRecv = 27 // IORING_OP_RECV

	enterGetEvents = 1 // IORING_ENTER_GETEVENTS

	featSingleMmap = 1 << 0 // IORING_FEAT_SINGLE_MMAP
	featNoDrop     = 1 << 1 // IORING_FEAT_NODROP

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	msgDontWait = 0x40
	msgNoSignal = 0x4000
)

type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	msgFlags    uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFDIn  int32
	addr3       uint64
	pad         uint64
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// Result is what one operation did: N bytes (0 for a read at the end of the stream), or Err
// (syscall.EAGAIN when the socket had nothing to read or no room to write).
type Result struct {
	N   int
	Err syscall.Errno
}

// Ring is an io_uring instance whose submission queue holds up to Size operations.
type Ring struct {
	fd      int
	ringMem []byte
	sqeMem  []byte
	sqHead  *uint32
	sqTail  *uint32
	sqMask  uint32
	sqArray []uint32
	sqes    []sqe
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	cqes    []cqe

	pending int      // operations prepared since the last Submit
	results []Result // by operation index, filled by Submit
	keep    [][]byte // the buffers of the pending operations, alive until Submit returns
}

// abandoned keeps alive, for good, the buffers of operations a failed Submit may have left running.
var (
	abandonedMu sync.Mutex
	abandoned   [][]byte
)

// ErrUnavailable means that the kernel has no io_uring or refuses it (kernel.io_uring_disabled, a
// seccomp profile such as Docker's default one).
var ErrUnavailable = errors.New("io_uring is not available")

// New makes a ring for up to size operations per Submit (a power of two, at most 4096).
func New(size int) (*Ring, error) {
	if size <= 0 || size > 4096 || size&(size-1) != 0 {
		return nil, errors.New("uring: the size must be a power of two between 1 and 4096")
	}
	var p params
	r1, _, errno := syscall.RawSyscall(sysSetup, uintptr(size), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		if errno == syscall.ENOSYS || errno == syscall.EPERM || errno == syscall.EACCES {
			return nil, ErrUnavailable
		}
		return nil, os.NewSyscallError("io_uring_setup", errno)
	}
	r := &Ring{fd: int(r1)}
	if p.features&featSingleMmap == 0 || p.features&featNoDrop == 0 || !r.supports(opSend, opRecv) {
		r.Close()
		return nil, ErrUnavailable // kernels before 5.6, or a filter that refuses these operations
	}
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*int(unsafe.Sizeof(cqe{}))
	ringSize := max(sqSize, cqSize)
	mem, err := syscall.Mmap(r.fd, offSQRing, ringSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		r.Close()
		return nil, os.NewSyscallError("mmap", err)
	}
	r.ringMem = mem
	sqeMem, err := syscall.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		r.Close()
		return nil, os.NewSyscallError("mmap", err)
	}
	r.sqeMem = sqeMem
	base := unsafe.Pointer(unsafe.SliceData(mem))
	r.sqHead = (*uint32)(unsafe.Add(base, p.sqOff.head))
	r.sqTail = (*uint32)(unsafe.Add(base, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(base, p.sqOff.ringMask))
	r.sqArray = unsafe.Slice((*uint32)(unsafe.Add(base, p.sqOff.array)), p.sqEntries)
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(unsafe.SliceData(sqeMem))), p.sqEntries)
	r.cqHead = (*uint32)(unsafe.Add(base, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(base, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(base, p.cqOff.ringMask))
	r.cqes = unsafe.Slice((*cqe)(unsafe.Add(base, p.cqOff.cqes)), p.cqEntries)
	r.results = make([]Result, p.sqEntries)
	r.keep = make([][]byte, 0, p.sqEntries)
	return r, nil
}

// probe is struct io_uring_probe with room for every operation code.
type probe struct {
	lastOp uint8
	opsLen uint8
	resv   uint16
	resv2  [3]uint32
	ops    [256]struct {
		op    uint8
		resv  uint8
		flags uint16
		resv2 uint32
	}
}

// supports asks the kernel (IORING_REGISTER_PROBE, 5.6) whether it performs every one of ops.
func (r *Ring) supports(ops ...uint8) bool {
	var pr probe
	_, _, errno := syscall.RawSyscall6(sysRegister, uintptr(r.fd), registerProbe, uintptr(unsafe.Pointer(&pr)), uintptr(len(pr.ops)), 0, 0)
	if errno != 0 {
		return false
	}
	for _, op := range ops {
		if int(op) >= int(pr.opsLen) || pr.ops[op].flags&opSupported == 0 {
			return false
		}
	}
	return true
}

// Size is how many operations one Submit takes.
func (r *Ring) Size() int { return len(r.sqes) }

// Pending is how many operations were prepared since the last Submit.
func (r *Ring) Pending() int { return r.pending }

// Recv prepares a read of what socket fd holds into p and returns the operation's index in the
// results of the next Submit. The ring must not be full (Pending < Size).
func (r *Ring) Recv(fd int, p []byte) int { return r.prep(opRecv, fd, p, msgDontWait) }

// Send prepares a write of what socket fd takes of p (MSG_NOSIGNAL: a peer that has gone gives
// EPIPE) and returns the operation's index in the results of the next Submit.
func (r *Ring) Send(fd int, p []byte) int { return r.prep(opSend, fd, p, msgDontWait|msgNoSignal) }

func (r *Ring) prep(op uint8, fd int, p []byte, flags uint32) int {
	i := r.pending
	if i >= len(r.sqes) {
		panic("uring: more operations than the ring holds")
	}
	tail := *r.sqTail + uint32(i)
	idx := tail & r.sqMask
	e := &r.sqes[idx]
	*e = sqe{opcode: op, fd: int32(fd), addr: uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p)))), len: uint32(len(p)), msgFlags: flags, userData: uint64(i)}
	r.sqArray[idx] = idx
	r.keep = append(r.keep, p)
	r.pending++
	return i
}

// Submit performs the prepared operations in one system call and returns their results by index
// (valid until the next Submit).
func (r *Ring) Submit() ([]Result, error) {
	n := r.pending
	if n == 0 {
		return r.results[:0], nil
	}
	atomic.StoreUint32(r.sqTail, *r.sqTail+uint32(n))
	r.pending = 0
	// Every operation completes during the call (MSG_DONTWAIT: the kernel answers EAGAIN rather than
	// waiting or queueing the operation to a worker), so asking to wait for all of them costs nothing
	// and the call cannot block. Hence a raw system call, as for the loop's recv and send: telling the
	// scheduler (syscall.Syscall6) costs more than the call here, and a batch that took longer than
	// sysmon's 20 µs tick had its P handed to another thread and taken back, with futex wake-ups,
	// context switches and sysmon sleeps on every few requests.
	submitted, got := 0, 0
	for got < n {
		toSubmit := n - submitted
		r1, _, errno := syscall.RawSyscall6(sysEnter, uintptr(r.fd), uintptr(toSubmit), uintptr(n-got), enterGetEvents, 0, 0)
		if errno != 0 && errno != syscall.EINTR && errno != syscall.EAGAIN && errno != syscall.EBUSY {
			if submitted > got {
				// Operations the kernel took may still be running: their buffers must outlive
				// the ring, whatever its owner does next.
				abandonedMu.Lock()
				abandoned = append(abandoned, r.keep...)
				abandonedMu.Unlock()
				r.keep = make([][]byte, 0, len(r.sqes))
			}
			clear(r.keep)
			r.keep = r.keep[:0]
			return nil, os.NewSyscallError("io_uring_enter", errno)
		}
		if errno == 0 {
			submitted += int(r1)
		}
		got += r.reap()
	}
	clear(r.keep)
	r.keep = r.keep[:0]
	return r.results[:n], nil
}

// reap takes the completions the kernel posted.
func (r *Ring) reap() int {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail)
	k := 0
	for ; head != tail; head++ {
		c := &r.cqes[head&r.cqMask]
		res := Result{N: int(c.res)}
		if c.res < 0 {
			res = Result{Err: syscall.Errno(-c.res)}
		}
		if c.userData < uint64(len(r.results)) {
			r.results[c.userData] = res
		}
		k++
	}
	atomic.StoreUint32(r.cqHead, head)
	return k
}

// Close releases the ring.
func (r *Ring) Close() error {
	if r.sqeMem != nil {
		syscall.Munmap(r.sqeMem)
		r.sqeMem = nil
	}
	if r.ringMem != nil {
		syscall.Munmap(r.ringMem)
		r.ringMem = nil
	}
	if r.fd >= 0 {
		syscall.Close(r.fd)
		r.fd = -1
	}
	return nil
}

// FD is the ring's file descriptor (for tests that make it fail).
func (r *Ring) FD() int { return r.fd }
