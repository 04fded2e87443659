// Command rotation measures how long a rotated credential takes to reach
// the wire: the time from a vault write (a new certificate version
// imported, a new secret version set) to the first backend request that
// presents the new client certificate, or carries the new Basic password.
//
// It runs the real components in one process: the vault over a real store,
// the vault watcher, an outbound credential with its own transport, and a
// TLS backend on 127.0.0.1 that requires a client certificate and records
// what it gets. A caller sends a request every -interval meanwhile, so the
// figure includes the watcher's poll, the resolution, the closing of idle
// connections made with the old certificate and the next handshake.
//
//	go run ./bench/rotation                      # SQLite, one node
//	go run ./bench/rotation -postgres URL        # PostgreSQL, two nodes
//	go run ./bench/rotation -gateway ./portcullis # through the binary's gateway
//	go run ./bench/rotation -gateway ./portcullis -postgres URL # two serve processes
//
// With -gateway the figure is taken through a real `portcullis serve
// --dev` process (SQLite): two APIs whose backend credentials are a vault
// client certificate and a Basic password, rotated with the CLI
// (`certificate import`, `secret set`); the delay runs from the CLI
// command's successful exit to the first request the gateway forwards
// with the new value.
//
// With -postgres the writes go through one vault.Service (node A) and the
// credential is served by another (node B) with its own connection pool:
// two nodes sharing one database. The run works in a schema of its own,
// created in that database and dropped at the end: it leaves nothing behind.
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/portcullis/portcullis/bench/internal/pgschema"
	"github.com/portcullis/portcullis/internal/outbound"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/seal"
	"github.com/portcullis/portcullis/internal/store/postgres"
	"github.com/portcullis/portcullis/internal/store/sqlite"
	"github.com/portcullis/portcullis/internal/vault"
	"github.com/portcullis/portcullis/internal/vaultwatch"
)

func main() {
	var (
		n        = flag.Int("n", 20, "rotations per credential kind")
		pgURL    = flag.String("postgres", "", "PostgreSQL URL: measure across two nodes on it (default: one node on SQLite in a temporary directory)")
		interval = flag.Duration("interval", 5*time.Millisecond, "pause between the caller's requests")
		timeout  = flag.Duration("timeout", 30*time.Second, "give up on a rotation after this long")
		binary   = flag.String("gateway", "", "portcullis binary: measure through the gateway of a real `portcullis serve --dev` (SQLite), rotating with the CLI")
	)
	flag.Parse()
	if *n < 1 {
		fmt.Fprintln(os.Stderr, "rotation: -n must be at least 1")
		os.Exit(2)
	}
	if *binary != "" {
		res, err := runGateway(context.Background(), gatewayConfig{binary: *binary, postgresURL: *pgURL, rotations: *n, interval: *interval, timeout: *timeout})
		if err != nil {
			fmt.Fprintln(os.Stderr, "rotation:", err)
			os.Exit(1)
		}
		nodes := "one node on SQLite"
		if *pgURL != "" {
			nodes = "two nodes on PostgreSQL: writes to A, gateway on B"
		}
		fmt.Printf("gateway route through the binary (serve --dev, %s), %d rotations each, caller every %s, from the CLI's acknowledgement\n", nodes, *n, *interval)
		for _, r := range res {
			fmt.Println(r)
		}
		return
	}
	res, err := run(context.Background(), config{rotations: *n, postgresURL: *pgURL, interval: *interval, timeout: *timeout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "rotation:", err)
		os.Exit(1)
	}
	store := "SQLite, one node"
	if *pgURL != "" {
		store = "PostgreSQL, two nodes"
	}
	fmt.Printf("%s, %d rotations each, caller every %s\n", store, *n, *interval)
	for _, r := range res {
		fmt.Println(r)
	}
}

// config is one run.
type config struct {
	rotations   int
	postgresURL string
	interval    time.Duration
	timeout     time.Duration
}

// result is the delays measured for one credential kind.
type result struct {
	kind   string
	delays []time.Duration
}

func (r result) String() string {
	d := slices.Clone(r.delays)
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	return fmt.Sprintf("%-20s min %7s  median %7s  p90 %7s  max %7s", r.kind,
		d[0].Round(time.Millisecond), q(0.5).Round(time.Millisecond), q(0.9).Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
}

// nodes are the vault as the writer (a) and the server (b) see it.
type nodes struct {
	a, b  *vault.Service
	vault string
}

var admin = vault.Caller{Admin: true, RequestID: "bench-rotation"}

func run(ctx context.Context, cfg config) ([]result, error) {
	ns, cleanup, err := openNodes(ctx, cfg.postgresURL)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	watcher := vaultwatch.New(vaultwatch.Config{Vault: ns.b, Logger: slog.New(slog.DiscardHandler)})
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { watcher.Run(wctx) })
	defer func() { stop(); wg.Wait() }()

	be, err := startBackend()
	if err != nil {
		return nil, err
	}
	defer be.close()

	var out []result
	for _, kind := range []string{"client certificate", "basic password"} {
		r, err := measure(ctx, cfg, ns, watcher, be, kind)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kind, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// measure rotates one kind of credential cfg.rotations times.
func measure(ctx context.Context, cfg config, ns nodes, w *vaultwatch.Watcher, be *backend, kind string) (result, error) {
	var spec outbound.CredentialSpec
	var rotate func(i int) (marker string, err error)
	switch kind {
	case "client certificate":
		// Certificates are made before the clock starts: key generation is
		// not part of a rotation.
		certs := make([]pemCert, cfg.rotations+1)
		for i := range certs {
			c, err := newClientCertificate(fmt.Sprintf("rotation-%d", i))
			if err != nil {
				return result{}, err
			}
			certs[i] = c
		}
		spec = outbound.CredentialSpec{Type: outbound.TypeClientCertificate, Certificate: "vault://" + ns.vault + "/certificates/client"}
		rotate = func(i int) (string, error) {
			_, err := ns.a.ImportCertificate(ctx, admin, ns.vault, "client", vault.CertificateImport{Data: certs[i].data})
			return certs[i].thumbprint, err
		}
	default:
		spec = outbound.CredentialSpec{Type: outbound.TypeBasic, Username: "portcullis", Password: "vault://" + ns.vault + "/secrets/password"}
		rotate = func(i int) (string, error) {
			pw := fmt.Sprintf("password-%d-%s", i, rand.Text())
			_, err := ns.a.SetSecret(ctx, admin, ns.vault, "password", vault.SecretInput{Value: vault.NewStringValue(pw)})
			return pw, err
		}
	}
	first, err := rotate(0)
	if err != nil {
		return result{}, err
	}
	tr := &http.Transport{}
	cred, err := outbound.Compile(spec, &outbound.TLSSpec{CACertificates: []string{be.caPEM}}, outbound.Options{
		Name: "bench", Target: be.url, Watcher: w, Logger: slog.New(slog.DiscardHandler),
		ClientCertificateRotated: tr.CloseIdleConnections,
	})
	if err != nil {
		return result{}, err
	}
	defer cred.Close()
	tr.TLSClientConfig = cred.TLSConfig()
	defer tr.CloseIdleConnections()
	rctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	err = cred.Ready(rctx)
	cancel()
	if err != nil {
		return result{}, err
	}

	// The caller: a request every interval until stopped.
	cctx, stopCaller := context.WithCancel(ctx)
	var cwg sync.WaitGroup
	cwg.Go(func() {
		for cctx.Err() == nil {
			req, _ := http.NewRequestWithContext(cctx, http.MethodGet, be.url, nil)
			if cred.Apply(req) == nil {
				if resp, err := tr.RoundTrip(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
			select {
			case <-cctx.Done():
			case <-time.After(cfg.interval):
			}
		}
	})
	defer func() { stopCaller(); cwg.Wait() }()
	if _, err := be.waitFor(ctx, first, cfg.timeout); err != nil {
		return result{}, fmt.Errorf("the first credential never reached the backend: %w", err)
	}

	r := result{kind: kind}
	for i := 1; i <= cfg.rotations; i++ {
		// A random pause, so that writes fall at every phase of the poll.
		time.Sleep(time.Duration(mathrand.Int64N(int64(time.Second))))
		start := time.Now()
		marker, err := rotate(i)
		if err != nil {
			return result{}, err
		}
		seen, err := be.waitFor(ctx, marker, cfg.timeout)
		if err != nil {
			return result{}, fmt.Errorf("rotation %d: %w", i, err)
		}
		r.delays = append(r.delays, seen.Sub(start))
	}
	return r, nil
}

func openNodes(ctx context.Context, pgURL string) (nodes, func(), error) {
	key := make([]byte, seal.RootKeySize)
	rand.Read(key)
	root, err := seal.ParseRootKey(hex.EncodeToString(key))
	if err != nil {
		return nodes{}, nil, err
	}
	sealer := seal.NewSealer(root)
	quiet := slog.New(slog.DiscardHandler)
	var closers []func()
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	open := func(st vault.Store) (*vault.Service, error) {
		svc, err := vault.New(vault.Config{Store: st, Sealer: sealer, Logger: quiet})
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { svc.Close(ctx) })
		return svc, nil
	}
	ns := nodes{vault: "rotation-" + hex.EncodeToString(key[:4])}
	if pgURL == "" {
		dir, err := os.MkdirTemp("", "portcullis-rotation-")
		if err != nil {
			return nodes{}, nil, err
		}
		closers = append(closers, func() { os.RemoveAll(dir) })
		st, err := sqlite.Open(ctx, filepath.Join(dir, "portcullis.db"))
		if err != nil {
			cleanup()
			return nodes{}, nil, err
		}
		closers = append(closers, func() { st.Close() })
		if ns.a, err = open(st); err != nil {
			cleanup()
			return nodes{}, nil, err
		}
		ns.b = ns.a
	} else {
		url, drop, err := pgschema.Temporary(ctx, pgURL, "portcullis_rotation")
		if err != nil {
			return nodes{}, nil, err
		}
		closers = append(closers, drop)
		for _, n := range []**vault.Service{&ns.a, &ns.b} {
			st, err := postgres.Open(ctx, url)
			if err != nil {
				cleanup()
				return nodes{}, nil, err
			}
			closers = append(closers, func() { st.Close() })
			if *n, err = open(st); err != nil {
				cleanup()
				return nodes{}, nil, err
			}
		}
	}
	if _, err := ns.a.CreateVault(ctx, admin, vault.VaultInput{Name: ns.vault}); err != nil {
		cleanup()
		return nodes{}, nil, err
	}
	return ns, cleanup, nil
}

// pemCert is a client certificate ready to import, and its thumbprint.
type pemCert struct {
	data       []byte
	thumbprint string
}

func newClientCertificate(cn string) (pemCert, error) {
	key, err := pki.GenerateKey(pki.KeyTypeEC256)
	if err != nil {
		return pemCert{}, err
	}
	c, err := pki.SelfSigned(pkix.Name{CommonName: cn}, key, 24*time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		return pemCert{}, err
	}
	k, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		return pemCert{}, err
	}
	return pemCert{data: append(pki.EncodeCertificatePEM(c), k...), thumbprint: thumbprint(c)}, nil
}

func thumbprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

// backend is a TLS server on 127.0.0.1 that asks for a client
// certificate and records when it first saw each certificate thumbprint
// and each Basic password.
type backend struct {
	url, caPEM string
	srv        *http.Server
	mu         sync.Mutex
	firstSeen  map[string]time.Time
	changed    chan struct{}
}

func startBackend() (*backend, error) {
	ca, caKey, err := pki.NewCA("rotation bench CA", time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		return nil, err
	}
	leaf, key, err := pki.NewServerCertificate(ca, caKey, []string{"127.0.0.1"}, time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &backend{url: "https://" + ln.Addr().String() + "/", caPEM: string(pki.EncodeCertificatePEM(ca)),
		firstSeen: map[string]time.Time{}, changed: make(chan struct{}, 1)}
	b.srv = &http.Server{
		ErrorLog:  log.New(io.Discard, "", 0),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: crypto.Signer(key), Leaf: leaf}}, ClientAuth: tls.RequestClientCert},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			now := time.Now()
			var markers []string
			if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
				markers = append(markers, thumbprint(r.TLS.PeerCertificates[0]))
			}
			if _, pw, ok := r.BasicAuth(); ok {
				markers = append(markers, pw)
			}
			b.mu.Lock()
			for _, m := range markers {
				if _, ok := b.firstSeen[m]; !ok {
					b.firstSeen[m] = now
					select {
					case b.changed <- struct{}{}:
					default:
					}
				}
			}
			b.mu.Unlock()
		}),
	}
	go b.srv.ServeTLS(ln, "", "")
	return b, nil
}

func (b *backend) close() { b.srv.Close() }

// waitFor returns when the backend first saw marker.
func (b *backend) waitFor(ctx context.Context, marker string, timeout time.Duration) (time.Time, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		t, ok := b.firstSeen[marker]
		b.mu.Unlock()
		if ok {
			return t, nil
		}
		select {
		case <-b.changed:
		case <-deadline.C:
			return time.Time{}, errors.New("not seen by the backend in time")
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}
