//go:build linux

package proxy

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
)

func TestIOURingEnv_ChoosesOrRefuses(t *testing.T) {
	tests := []struct {
		value, want string
		wantErr     bool
	}{
		{value: "", want: "auto"},
		{value: "auto", want: "auto"},
		{value: "on", want: "on"},
		{value: "off", want: "off"},
		{value: "yes", wantErr: true},
	}
	for _, tc := range tests {
		t.Run("value="+tc.value, func(t *testing.T) {
			t.Setenv(IOURingEnv, tc.value)
			got, err := ioURingMode()
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ioURingMode() = %q, %v; want %q, error %v", got, err, tc.want, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), IOURingEnv) {
				t.Errorf("error %q does not name %s", err, IOURingEnv)
			}
		})
	}
}

// ringUsable reports whether this kernel and build let a loop have a ring.
func ringUsable() bool {
	r, err := newRing()
	if err != nil {
		return false
	}
	r.Close()
	return true
}

// loopsOf starts the event-loop engine of s (through one request) and returns its loops.
func loopsOf(t *testing.T, s *Server, addr string) []*evLoop {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/warm")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ev == nil {
		t.Fatal("no event-loop engine")
	}
	return s.ev.loops
}

func TestLoop_BatchesWithAnIOURingWhereTheKernelAllows(t *testing.T) {
	if engineName() != "eventloop" {
		t.Skip("the goroutine engine has no loops")
	}
	mode, _ := ioURingMode()
	b := startBackend(t, http.HandlerFunc(echoHandler))
	s := &Server{Decider: &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})}}
	addr := startProxy(t, s, nil)
	want := mode != "off" && ringUsable()
	for i, l := range loopsOf(t, s, addr) {
		if got := l.ring != nil; got != want {
			t.Errorf("loop %d has a ring: %v, want %v (%s=%q)", i, got, want, IOURingEnv, mode)
		}
	}
}

func TestLoop_GoesOnWithoutItsRingWhenTheRingFails(t *testing.T) {
	if engineName() != "eventloop" || !ringUsable() {
		t.Skip("no loop with a ring here")
	}
	if mode, _ := ioURingMode(); mode == "off" {
		t.Skip(IOURingEnv + "=off")
	}
	var logs syncBuffer
	b := startBackend(t, http.HandlerFunc(echoHandler))
	s := &Server{Decider: &forwardTo{up: newUpstream(t, UpstreamConfig{URLs: []*url.URL{b.url}})},
		ErrorLog: slog.New(slog.NewTextHandler(&logs, nil))}
	addr := startProxy(t, s, nil)
	loops := loopsOf(t, s, addr)
	// Each ring's descriptor becomes /dev/null's (atomically: the number is never free for a socket to
	// take), so the loop's next submission fails.
	null, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(null)
	for _, l := range loops {
		if err := syscall.Dup3(null, l.ring.FD(), syscall.O_CLOEXEC); err != nil {
			t.Fatal(err)
		}
	}
	// Each loop's first exchange after that may fail (whether its bytes went is unknown); then every
	// exchange succeeds with one system call per read and write.
	failed := 0
	for i := range 20 {
		resp, err := http.Get("http://" + addr + "/echo/" + string(rune('a'+i)))
		if err != nil {
			failed++
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			failed++
			continue
		}
		if !bytes.Contains(body, []byte("/echo/"+string(rune('a'+i)))) {
			t.Fatalf("request %d: body %q", i, body)
		}
	}
	if failed > len(loops) {
		t.Fatalf("%d of 20 exchanges failed after the rings broke, want at most one per loop (%d)", failed, len(loops))
	}
	if !strings.Contains(logs.String(), "io_uring failed") {
		t.Fatalf("log %q does not say that io_uring failed", logs.String())
	}
}

func TestProxy_UnknownIOURingChoiceIsRefusedByServe(t *testing.T) {
	if engineName() != "eventloop" {
		t.Skip("the goroutine engine has no loops")
	}
	t.Setenv(IOURingEnv, "yes")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := &Server{Decider: deciderFunc(func(*http.Request) Decision { return Decision{Status: 204} })}
	if err := s.Serve(ln); err == nil || !strings.Contains(err.Error(), IOURingEnv) {
		t.Fatalf("Serve = %v, want an error naming %s", err, IOURingEnv)
	}
}
