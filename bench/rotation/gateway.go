package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/portcullis/portcullis/bench/internal/pgschema"
)

// gatewayConfig is a run through the binary: `portcullis serve --dev` on
// SQLite, APIs created and credentials rotated with the CLI.
type gatewayConfig struct {
	binary      string // the portcullis binary
	postgresURL string // "": one node on SQLite; else two nodes on a temporary schema of this database
	rotations   int
	interval    time.Duration
	timeout     time.Duration
}

// runGateway measures, through a real `portcullis serve --dev` process,
// the time from a rotation's acknowledgement (the CLI command that wrote
// the new version has exited successfully) to the first request the
// gateway forwards to the backend with the new client certificate, or the
// new Basic password. A caller sends a request through the gateway to each
// API every interval meanwhile.
func runGateway(ctx context.Context, cfg gatewayConfig) ([]result, error) {
	dir, err := os.MkdirTemp("", "portcullis-rotation-gw-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "data")
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	listen, gw := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	var db []string
	if cfg.postgresURL != "" {
		u, drop, err := pgschema.Temporary(ctx, cfg.postgresURL, "portcullis_rotation")
		if err != nil {
			return nil, err
		}
		defer drop()
		db = []string{"--database", u}
	}
	sctx, stopServers := context.WithCancel(ctx)
	var servers []chan struct{} // closed when the process has exited
	defer func() {
		stopServers()
		for _, done := range servers {
			<-done
		}
	}()
	serve := func(name string, args ...string) (string, error) {
		logPath := filepath.Join(dir, name+".log")
		logFile, err := os.Create(logPath)
		if err != nil {
			return "", err
		}
		srv := exec.CommandContext(sctx, cfg.binary, append(append([]string{"serve", "--dev", "--metrics-listen", "off"}, args...), db...)...)
		srv.Stdout, srv.Stderr = logFile, logFile
		srv.Cancel = func() error { return srv.Process.Signal(os.Interrupt) }
		srv.WaitDelay = 10 * time.Second
		if err := srv.Start(); err != nil {
			logFile.Close()
			return "", fmt.Errorf("start %s serve: %w", cfg.binary, err)
		}
		done := make(chan struct{})
		go func() { srv.Wait(); logFile.Close(); close(done) }() // the only Wait: two would race
		servers = append(servers, done)
		return logPath, nil
	}
	// Node A takes the writes; with PostgreSQL node B, sharing its
	// database and root key, serves the gateway.
	gwArgs := []string{"--gateway-listen", "https://" + gw}
	if cfg.postgresURL != "" {
		gwArgs = []string{"--gateway-listen", "off"}
	}
	logFile, err := serve("node-a", append([]string{"--data", data, "--listen", listen, "--public-url", "https://" + listen}, gwArgs...)...)
	if err != nil {
		return nil, err
	}
	gwData := data
	cli := func(stdin string, args ...string) error {
		c := exec.CommandContext(ctx, cfg.binary, append(args, "--data", data)...)
		c.Stdin = strings.NewReader(stdin)
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		if err := c.Run(); err != nil {
			return fmt.Errorf("portcullis %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
		}
		return nil
	}
	up := func(logPath string, ready func() error) error {
		deadline := time.Now().Add(cfg.timeout)
		for {
			err := ready()
			if err == nil {
				return nil
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(logPath)
				return fmt.Errorf("the server did not come up: %v\n%s", err, log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := up(logFile, func() error { return cli("", "tenant", "list") }); err != nil {
		return nil, err
	}
	if cfg.postgresURL != "" {
		gwData = filepath.Join(dir, "data-b")
		logB, err := serve("node-b", "--data", gwData, "--listen", "127.0.0.1:"+ports[2], "--gateway-listen", "https://"+gw,
			"--root-key", filepath.Join(data, "root.key"),
			// One public URL for the cluster, as behind a load balancer: the
			// vault's resource identifier follows it.
			"--public-url", "https://"+listen)
		if err != nil {
			return nil, err
		}
		if err := up(logB, func() error {
			c, err := net.DialTimeout("tcp", gw, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		}); err != nil {
			return nil, err
		}
	}

	be, err := startBackend()
	if err != nil {
		return nil, err
	}
	defer be.close()
	caFile := filepath.Join(dir, "backend-ca.pem")
	if err := os.WriteFile(caFile, []byte(be.caPEM), 0o600); err != nil {
		return nil, err
	}
	certs := make([]pemCert, cfg.rotations+1)
	for i := range certs {
		if certs[i], err = newClientCertificate(fmt.Sprintf("rotation-%d", i)); err != nil {
			return nil, err
		}
	}
	importCert := func(i int) (string, error) {
		f := filepath.Join(dir, fmt.Sprintf("client-%d.pem", i))
		if err := os.WriteFile(f, certs[i].data, 0o600); err != nil {
			return "", err
		}
		return certs[i].thumbprint, cli("", "certificate", "import", "client", f)
	}
	setPassword := func(i int) (string, error) {
		pw := fmt.Sprintf("password-%d-%s", i, rand.Text())
		return pw, cli(pw+"\n", "secret", "set", "password", "--value", "-")
	}
	if _, err := importCert(0); err != nil {
		return nil, err
	}
	if _, err := setPassword(0); err != nil {
		return nil, err
	}
	common := []string{"--anonymous", "--backend", strings.TrimSuffix(be.url, "/"), "--backend-ca", caFile}
	if err := cli("", append([]string{"api", "create", "cert", "--path-prefix", "/cert",
		"--backend-auth", "clientCertificate", "--backend-certificate", "vault://default/certificates/client"}, common...)...); err != nil {
		return nil, err
	}
	if err := cli("", append([]string{"api", "create", "basic", "--path-prefix", "/basic",
		"--backend-auth", "basic", "--backend-username", "portcullis", "--backend-password", "vault://default/secrets/password"}, common...)...); err != nil {
		return nil, err
	}

	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(gwData, "tls", "ca.pem"))
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("the dev CA in %s: %v", gwData, err)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	cctx, stopCaller := context.WithCancel(ctx)
	var cwg sync.WaitGroup
	for _, path := range []string{"/cert/", "/basic/"} {
		cwg.Go(func() {
			for cctx.Err() == nil {
				req, _ := http.NewRequestWithContext(cctx, http.MethodGet, "https://"+gw+path, nil)
				if resp, err := client.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				select {
				case <-cctx.Done():
				case <-time.After(cfg.interval):
				}
			}
		})
	}
	defer func() { stopCaller(); cwg.Wait() }()

	var out []result
	for _, k := range []struct {
		kind   string
		rotate func(int) (string, error)
	}{{"client certificate", importCert}, {"basic password", setPassword}} {
		r := result{kind: k.kind}
		for i := 1; i <= cfg.rotations; i++ {
			time.Sleep(time.Duration(mathrand.Int64N(int64(time.Second))))
			marker, err := k.rotate(i)
			if err != nil {
				return nil, err
			}
			acked := time.Now()
			seen, err := be.waitFor(ctx, marker, cfg.timeout)
			if err != nil {
				return nil, fmt.Errorf("%s rotation %d: %w", k.kind, i, err)
			}
			// The gateway may forward the new value before the CLI has
			// exited (the write is committed before its answer is read).
			r.delays = append(r.delays, max(0, seen.Sub(acked)))
		}
		out = append(out, r)
	}
	return out, nil
}

// freePorts returns n ports free on 127.0.0.1 a moment ago.
func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		_, p, _ := net.SplitHostPort(l.Addr().String())
		out = append(out, p)
	}
	if len(out) != n {
		return nil, errors.New("no free port")
	}
	return out, nil
}
