package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// TestE2E_CertificateBoundTokensThroughTheGateway: an application that
// requires certificate-bound tokens (set with the CLI) gets, from a real
// MSAL client authenticating with a certificate, a token with cnf
// x5t#S256 of that certificate; the gateway API with
// --bearer-certificate-bound admits it over TLS with that certificate only.
// A client with a secret is refused a token; a token for an application
// that does not require binding has no cnf.
func TestE2E_CertificateBoundTokensThroughTheGateway(t *testing.T) {
	s := startDevServer(t)
	m := regexp.MustCompile(`Gateway \(APIs\):\s+(https://\S+)`).FindStringSubmatch(s.banner.String())
	if m == nil {
		t.Fatalf("the dev server's banner names no gateway listener:\n%s", s.banner.String())
	}
	gatewayURL := m[1]

	paymentsID := str(s.okJSON(t, "", "app", "create", "payments-api", "--identifier-uri", "api://payments", "--require-certificate-bound-tokens")["appId"])
	s.okJSON(t, "", "app", "create", "orders-api", "--identifier-uri", "api://orders")
	if out := s.ok(t, "", "app", "show", "payments-api"); !strings.Contains(out, "Bound tokens:") || !strings.Contains(out, "required") {
		t.Errorf("app show does not say tokens are bound:\n%s", out)
	}
	clientID := str(s.okJSON(t, "", "app", "create", "payments-client")["appId"])
	s.ok(t, "", "cert", "create", "--subject", "CN=payments-client", "--out", filepath.Join(s.dir, "pc"), "--password", "pw-pc-1")
	s.ok(t, "", "cert", "create", "--subject", "CN=stranger", "--out", filepath.Join(s.dir, "stranger"), "--password", "pw-st-1")
	s.ok(t, "", "app", "cert", "add", "payments-client", filepath.Join(s.dir, "pc.cer"))
	secretClientID := str(s.okJSON(t, "", "app", "create", "secret-client")["appId"])
	secret := str(s.okJSON(t, "", "app", "secret", "add", "secret-client")["secretText"])
	s.addSecret(secret)

	backend, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "backend saw "+r.URL.Path+" for "+r.Header.Get("X-Portcullis-Client-Id"))
	})}
	go bs.Serve(backend)
	t.Cleanup(func() { bs.Close() })
	s.ok(t, "", "api", "create", "payments", "--path-prefix", "/payments", "--backend", "http://"+backend.Addr().String(),
		"--bearer-tenant", "default", "--audience", "api://payments", "--bearer-certificate-bound")
	if out := s.ok(t, "", "api", "show", "payments"); !strings.Contains(out, "certificate-bound tokens only") {
		t.Errorf("api show does not say the method takes certificate-bound tokens only:\n%s", out)
	}

	// A real MSAL confidential client with the certificate.
	pemFile := filepath.Join(s.dir, "pc.pem")
	certs, key, err := confidential.CertFromPEM(mustRead(t, pemFile), "")
	if err != nil {
		t.Fatal(err)
	}
	certCred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		t.Fatal(err)
	}
	hc := s.httpClient(t)
	msal := func(t *testing.T, clientID string, cred confidential.Credential, scope string) (string, error) {
		t.Helper()
		app, err := confidential.New(s.cred.Addr+"/default", clientID, cred, confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		ar, err := app.AcquireTokenByCredential(context.Background(), []string{scope})
		return ar.AccessToken, err
	}
	token, err := msal(t, clientID, certCred, "api://payments/.default")
	if err != nil {
		t.Fatalf("MSAL with the certificate, for the bound resource: %v", err)
	}
	sum := sha256.Sum256(certs[0].Raw)
	x5t := base64.RawURLEncoding.EncodeToString(sum[:])
	if cnf := rawClaims(t, token)["cnf"]; string(cnf) != `{"x5t#S256":"`+x5t+`"}` {
		t.Fatalf("cnf %s, want x5t#S256 %s", cnf, x5t)
	}
	if aud := rawClaims(t, token)["aud"]; string(aud) != `"`+paymentsID+`"` {
		t.Errorf("aud %s", aud)
	}

	pc, err := tls.X509KeyPair(mustRead(t, pemFile), mustRead(t, pemFile))
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := tls.X509KeyPair(mustRead(t, filepath.Join(s.dir, "stranger.pem")), mustRead(t, filepath.Join(s.dir, "stranger.pem")))
	if err != nil {
		t.Fatal(err)
	}
	devCA := x509.NewCertPool()
	if !devCA.AppendCertsFromPEM(mustRead(t, filepath.Join(s.data, "tls", "ca.pem"))) {
		t.Fatal("the dev server's tls/ca.pem holds no certificate")
	}
	call := func(tok string, cert *tls.Certificate) (int, string, http.Header, error) {
		t.Helper()
		cfg := &tls.Config{RootCAs: devCA, MinVersion: tls.VersionTLS12}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
		defer c.CloseIdleConnections()
		req, _ := http.NewRequest(http.MethodGet, gatewayURL+"/payments/1", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := c.Do(req)
		if err != nil {
			return 0, "", nil, err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header, err
	}
	// The gateway applies the new API asynchronously: poll until it answers.
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body, _, err := call(token, &pc)
		if code == http.StatusOK {
			if body != "backend saw /payments/1 for "+clientID {
				t.Fatalf("backend answer %q", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bound token with its certificate: %d %q %v\nserver log:\n%s", code, body, err, s.logs.String())
		}
		time.Sleep(50 * time.Millisecond) // poll: the reload is asynchronous
	}

	ordersToken, err := msal(t, clientID, certCred, "api://orders/.default")
	if err != nil {
		t.Fatalf("MSAL with the certificate, for a resource that does not require binding: %v", err)
	}
	secretCred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	cliToken := strings.TrimSpace(s.ok(t, "", "token", "get", "--client-id", clientID, "--cert", pemFile, "--scope", "api://payments/.default"))

	for _, tc := range []struct {
		name string
		tok  string
		cert *tls.Certificate
		want int
		says string
	}{
		{"the bound token with its certificate", token, &pc, http.StatusOK, "backend saw"},
		{"a token from 'token get --cert' with its certificate", cliToken, &pc, http.StatusOK, "backend saw"},
		{"the bound token with another valid certificate", token, &stranger, http.StatusUnauthorized, "presented another certificate"},
		{"the bound token without a certificate", token, nil, http.StatusUnauthorized, "presented no client certificate"},
		{"an unbound token (another audience) with the certificate", ordersToken, &pc, http.StatusUnauthorized, "not this API's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, h, err := call(tc.tok, tc.cert)
			var opErr *net.OpError
			if errors.As(err, &opErr) {
				t.Fatalf("refused at the handshake (%v); want an HTTP %d", err, tc.want)
			}
			if code != tc.want || !strings.Contains(body, tc.says) {
				t.Fatalf("%d %q %v; want %d saying %q", code, body, err, tc.want, tc.says)
			}
			if code == http.StatusUnauthorized {
				if !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) || strings.Contains(body, " saw ") {
					t.Errorf("WWW-Authenticate %q, body %q", h.Get("WWW-Authenticate"), body)
				}
				if strings.Contains(body, tc.tok[strings.LastIndexByte(tc.tok, '.')+1:]) {
					t.Error("the refusal echoes the token")
				}
			}
		})
	}

	t.Run("a token for a resource that does not require binding has no cnf", func(t *testing.T) {
		if cnf, ok := rawClaims(t, ordersToken)["cnf"]; ok {
			t.Errorf("cnf %s", cnf)
		}
	})
	t.Run("a client with a secret is refused a token for the bound resource", func(t *testing.T) {
		_, err := msal(t, secretClientID, secretCred, "api://payments/.default")
		if err == nil || !strings.Contains(err.Error(), "AADSTS7000230") || !strings.Contains(err.Error(), "Use a certificate credential") {
			t.Fatalf("err %v, want AADSTS7000230 asking for a certificate credential", err)
		}
		if _, err := msal(t, secretClientID, secretCred, "api://orders/.default"); err != nil {
			t.Errorf("the same secret for an unbound resource: %v", err)
		}
	})
	t.Run("api explain shows the binding", func(t *testing.T) {
		out := s.ok(t, "", "api", "explain", "payments", "--header", "Authorization: Bearer "+token, "--cert", pemFile)
		if !strings.Contains(out, "bound to a client certificate (cnf x5t#S256 "+x5t+")") || !strings.Contains(out, "decision   allowed") {
			t.Errorf("explain with the certificate:\n%s", out)
		}
		out = s.ok(t, "", "api", "explain", "payments", "--header", "Authorization: Bearer "+token)
		if !strings.Contains(out, "presented no client certificate") || strings.Contains(out, token) {
			t.Errorf("explain without the certificate:\n%s", out)
		}
	})
}

// rawClaims decodes a token's payload without verifying it.
func rawClaims(t *testing.T, tok string) map[string]json.RawMessage {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS (%d parts)", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
