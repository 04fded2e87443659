package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestE2E_BuiltInCASecuresAGatewayRouteAndItsBackend makes a vault CA with
// the CLI and issues from it the client certificate a caller presents to a
// gateway API (its policy trusts vault://default/certificates/gw-ca) and
// the server certificate of the API's backend (its backend TLS trusts the
// same reference). A request passes end to end; a client certificate of
// another vault CA is refused with 401, and a backend whose certificate
// comes from another CA is refused by the gateway (502), never reached.
func TestE2E_BuiltInCASecuresAGatewayRouteAndItsBackend(t *testing.T) {
	s := startDevServer(t)
	m := regexp.MustCompile(`Gateway \(APIs\):\s+(https://\S+)`).FindStringSubmatch(s.banner.String())
	if m == nil {
		t.Fatalf("the dev server's banner names no gateway listener:\n%s", s.banner.String())
	}
	gatewayURL := m[1]

	s.ok(t, "", "ca", "create", "gw-ca", "--subject", "CN=Gateway Test CA, O=Example", "--key", "ec256")
	s.ok(t, "", "ca", "create", "other-ca", "--subject", "CN=Other CA, O=Example", "--key", "ec256")
	issue := func(name, issuer, eku string) tls.Certificate {
		t.Helper()
		s.ok(t, "", "certificate", "create", name, "--issuer", issuer, "--subject", "CN="+name, "--dns", name+".internal", "--eku", eku, "--key", "ec256")
		file := filepath.Join(s.dir, name+".pem")
		s.ok(t, "", "certificate", "download", name, "--format", "pem", "--out", file)
		kp, err := tls.X509KeyPair(mustRead(t, file), mustRead(t, file))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return kp
	}
	backendCert := issue("backend", "gw-ca", "server")
	callerCert := issue("caller", "gw-ca", "client")
	strangerCert := issue("stranger", "other-ca", "client")
	rogueBackendCert := issue("rogue-backend", "other-ca", "server")

	backends := map[string]string{} // name -> https://127.0.0.1:PORT
	for name, cert := range map[string]tls.Certificate{"backend": backendCert, "rogue-backend": rogueBackendCert} {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, name+" saw "+r.URL.Path+" for "+r.Header.Get("X-Portcullis-Subject"))
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		backends[name] = "https://" + ln.Addr().String()
	}

	ca := "vault://default/certificates/gw-ca"
	s.ok(t, "", "api", "create", "mtls", "--path-prefix", "/mtls", "--backend", backends["backend"],
		"--backend-ca", ca, "--backend-server-name", "backend.internal", "--client-ca", ca)
	s.ok(t, "", "api", "create", "rogue", "--path-prefix", "/rogue", "--backend", backends["rogue-backend"],
		"--backend-ca", ca, "--backend-server-name", "rogue-backend.internal", "--client-ca", ca)

	devCA := x509.NewCertPool()
	if !devCA.AppendCertsFromPEM(mustRead(t, filepath.Join(s.data, "tls", "ca.pem"))) {
		t.Fatal("the dev server's tls/ca.pem holds no certificate")
	}
	call := func(path string, cert *tls.Certificate) (int, string, error) {
		t.Helper()
		cfg := &tls.Config{RootCAs: devCA, MinVersion: tls.VersionTLS12}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
		defer hc.CloseIdleConnections()
		res, err := hc.Get(gatewayURL + path)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, string(b), err
	}

	// The gateway applies the new APIs and resolves the CA off the request
	// path: poll until it admits the caller.
	deadline := time.Now().Add(15 * time.Second)
	var (
		code int
		body string
		err  error
	)
	for {
		code, body, err = call("/mtls/orders", &callerCert)
		if code == http.StatusOK || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // poll: the reload is asynchronous
	}
	if code != http.StatusOK || body != "backend saw /mtls/orders for CN=caller" {
		t.Fatalf("caller with a gw-ca certificate: %d %q %v\nserver log:\n%s", code, body, err, s.logs.String())
	}

	for _, tc := range []struct {
		name string
		path string
		cert *tls.Certificate
		want int
		says string
	}{
		{"a client certificate of another vault CA", "/mtls/orders", &strangerCert, http.StatusUnauthorized, "does not chain to a CA this API trusts"},
		{"no client certificate", "/mtls/orders", nil, http.StatusUnauthorized, "requires a client certificate"},
		{"a backend whose certificate comes from another CA", "/rogue/orders", &callerCert, http.StatusBadGateway, "bad_gateway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, err := call(tc.path, tc.cert)
			var opErr *net.OpError
			if errors.As(err, &opErr) {
				t.Fatalf("refused at the handshake (%v); want an HTTP %d", err, tc.want)
			}
			if code != tc.want || !strings.Contains(body, tc.says) || strings.Contains(body, " saw ") {
				t.Fatalf("%d %q %v; want %d saying %q, the backend not reached", code, body, err, tc.want, tc.says)
			}
		})
	}
}
