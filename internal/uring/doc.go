// Package uring batches non-blocking socket reads and writes into one io_uring_enter(2) system call.
//
// It is not a general io_uring binding: every operation is a recv(2) or send(2) with MSG_DONTWAIT, so
// the kernel performs it during the submitting call (a socket with nothing to read or no room to write
// answers EAGAIN instead of being polled), and Submit returns every result. What the caller gains is
// one kernel entry for many calls; what it keeps is the readiness model of its event loop. A Ring is
// used by one goroutine at a time.
package uring
