package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func newTestListener(t *testing.T, name string, essential bool) *Listener {
	t.Helper()
	l := &Listener{Name: name, Essential: essential, Drain: essential, Server: &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }),
	}}
	if err := l.bind("127.0.0.1:0", "--"+name); err != nil {
		t.Fatal(err)
	}
	return l
}

func shutdownWithin(d time.Duration) func() (context.Context, context.CancelFunc) {
	return func() (context.Context, context.CancelFunc) { return context.WithTimeout(context.Background(), d) }
}

func TestListeners_ServeEveryComponentListenerAndStopThemTogether(t *testing.T) {
	main, extra := newTestListener(t, "https", true), newTestListener(t, "gateway", false)
	ls := listeners{main, extra}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ls.serve(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), shutdownWithin(5*time.Second))
	}()
	for _, l := range ls {
		res, err := http.Get("http://" + l.Addr())
		if err != nil {
			t.Fatalf("%s: %v", l.Name, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(b) != l.Name {
			t.Fatalf("%s answered %q", l.Name, b)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve after shutdown = %v; want nil", err)
	}
	for _, l := range ls {
		if _, err := http.Get("http://" + l.Addr()); err == nil {
			t.Errorf("%s still answers after shutdown", l.Name)
		}
	}
}

func TestListeners_AnEssentialListenerFailingStopsTheNode(t *testing.T) {
	main, extra := newTestListener(t, "https", true), newTestListener(t, "metrics", false)
	main.ln.Close() // Serve fails at once on a closed listener
	err := listeners{main, extra}.serve(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), shutdownWithin(5*time.Second))
	if err == nil || !strings.Contains(err.Error(), "serve https on") {
		t.Fatalf("serve = %v; want the https listener's failure", err)
	}
	if _, err := http.Get("http://" + extra.Addr()); err == nil {
		t.Error("the metrics listener still answers after the node stopped")
	}
}

func TestListeners_AnotherListenerFailingIsLoggedAndTheNodeKeepsServing(t *testing.T) {
	main, extra := newTestListener(t, "https", true), newTestListener(t, "metrics", false)
	extra.ln.Close() // Serve fails at once on a closed listener
	logged := make(chan string, 16)
	log := slog.New(slog.NewTextHandler(lineWriter(logged), nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- listeners{main, extra}.serve(ctx, log, shutdownWithin(5*time.Second)) }()
	select {
	case line := <-logged:
		if !strings.Contains(line, "listener=metrics") {
			t.Fatalf("logged %q; want the metrics listener's failure", line)
		}
	case err := <-done:
		t.Fatalf("serve returned %v when a non-essential listener failed", err)
	case <-time.After(5 * time.Second):
		t.Fatal("the metrics listener's failure was not logged")
	}
	res, err := http.Get("http://" + main.Addr())
	if err != nil {
		t.Fatalf("the https listener stopped with the metrics listener: %v", err)
	}
	res.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve after shutdown = %v; want nil", err)
	}
}

// lineWriter sends each log line to its channel.
type lineWriter chan<- string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}
