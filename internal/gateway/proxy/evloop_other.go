//go:build !linux

package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
)

// loopEngineAvailable says that this system has no event-loop engine.
const loopEngineAvailable = false

// evEngine does not exist outside Linux: every listener uses the goroutine engine.
type evEngine struct{}

func newLoopEngine(*Server) (*evEngine, error) {
	return nil, errors.New("the event-loop engine exists only on Linux")
}

func (*evEngine) adopt(*conn, net.Conn) error { return errors.New("no event-loop engine") }
func (*evEngine) adoptTLS(*conn, *tlsWire, *tls.Conn) error {
	return errors.New("no event-loop engine")
}
func (*evEngine) wake()                          {}
func (*evEngine) close()                         {}
func (*evEngine) wait(ctx context.Context) error { return nil }

// ringBuild says that loops have no io_uring here.
const ringBuild = false
