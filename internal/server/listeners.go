package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
)

// A Listener is one address a component serves on, with its own TLS
// configuration and HTTP server settings: the clients' HTTPS listener
// (token service, admin API, vault), the metrics listener, next the
// gateway's listeners, which may request client certificates in their
// tls.Config. Start binds every listener before it returns, so an address
// in use fails the start; Serve serves them all and stops them together.
type Listener struct {
	// Name says what the listener is for, in logs and errors.
	Name string
	// TLS is the listener's TLS configuration; nil serves plain HTTP
	// (the loopback metrics listener).
	TLS *tls.Config
	// Server holds the handler and the timeouts: an *http.Server, or the
	// gateway's own HTTP engine.
	Server service
	// Essential listeners stop the node when they fail; the failure of
	// another is logged and the node keeps serving.
	Essential bool
	// Drain gives in-flight requests ShutdownTimeout to finish at
	// shutdown; without it connections are closed at once.
	Drain bool

	ln net.Listener
}

// service is what a Listener serves with; *http.Server is one.
type service interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// bind opens the listener's address; flag names the setting it comes from.
func (l *Listener) bind(addr, flag string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, addr, err)
	}
	l.ln = ln
	return nil
}

// Addr is the bound address.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

func (l *Listener) serve() error {
	ln := l.ln
	if l.TLS != nil {
		ln = tls.NewListener(ln, l.TLS)
	}
	return l.Server.Serve(ln)
}

// listeners is every listener of the node, in start order.
type listeners []*Listener

// close releases listeners that never served (Start failed after binding).
func (ls listeners) close() {
	for _, l := range ls {
		if l.ln != nil {
			_ = l.ln.Close()
		}
	}
}

// serve serves every listener until ctx ends or an essential one fails,
// then stops them all: draining ones gracefully within shutdown's
// deadline, the others at once.
func (ls listeners) serve(ctx context.Context, log *slog.Logger, shutdown func() (context.Context, context.CancelFunc)) error {
	errc := make(chan error, len(ls))
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.serve()
			if errors.Is(err, http.ErrServerClosed) {
				return
			}
			if l.Essential {
				errc <- fmt.Errorf("serve %s on %s: %w", l.Name, l.Addr(), err)
				return
			}
			log.Error("listener stopped; the node keeps serving on the others", "listener", l.Name, "addr", l.Addr(), "err", err)
		}()
	}
	var failed error
	select {
	case failed = <-errc:
	case <-ctx.Done():
	}
	sctx, cancel := shutdown()
	defer cancel()
	var errs []error
	for _, l := range ls {
		if l.Drain && failed == nil {
			if err := l.Server.Shutdown(sctx); err != nil {
				errs = append(errs, fmt.Errorf("shutdown %s: %w", l.Name, err))
			}
		} else {
			_ = l.Server.Close()
		}
		// A Serve not yet started when the server stopped returns at once
		// without closing the listener; close it here.
		_ = l.ln.Close()
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	return errors.Join(errs...)
}
