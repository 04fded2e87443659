package main

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pki"
)

// recordingEndpoint is a connector endpoint on loopback TLS that requires a
// client certificate, records the thumbprint of each one it sees and
// answers as its mode says.
type recordingEndpoint struct {
	url    string
	caFile string // its self-signed certificate, for --ca
	mode   atomic.Value
	ln     net.Listener
	srv    *http.Server

	mu          sync.Mutex
	thumbprints []string // of every call, in order ("" without a client certificate)
	bodies      []string
	auths       []string // Authorization headers
}

func startRecordingEndpoint(t *testing.T, dir string, clientAuth tls.ClientAuthType) *recordingEndpoint {
	t.Helper()
	ca, caKey, err := pki.NewCA("connector endpoint CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, leafKey, err := pki.NewServerCertificate(ca, caKey, []string{"127.0.0.1"}, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	e := &recordingEndpoint{caFile: filepath.Join(dir, "endpoint-ca.pem")}
	if err := os.WriteFile(e.caFile, pki.EncodeCertificatePEM(ca), 0o600); err != nil {
		t.Fatal(err)
	}
	e.mode.Store("continue")
	e.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "https://" + e.ln.Addr().String() + "/validate"
	e.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0),
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS12,
			Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw, ca.Raw}, PrivateKey: leafKey, Leaf: leaf}},
			ClientAuth:   clientAuth,
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			thumb := ""
			if len(r.TLS.PeerCertificates) > 0 {
				sum := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
				thumb = strings.ToUpper(hex.EncodeToString(sum[:]))
			}
			body, _ := io.ReadAll(r.Body)
			e.mu.Lock()
			e.thumbprints = append(e.thumbprints, thumb)
			e.bodies = append(e.bodies, string(body))
			e.auths = append(e.auths, r.Header.Get("Authorization"))
			e.mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			switch e.mode.Load() {
			case "block":
				io.WriteString(w, `{"version":"1.0.0","action":"ShowBlockPage","userMessage":"Billing is suspended for this client."}`)
			default:
				io.WriteString(w, `{"version":"1.0.0","action":"Continue","costCenter":"CC-42","tid":"forged"}`)
			}
		})}
	go e.srv.ServeTLS(e.ln, "", "")
	t.Cleanup(func() { e.srv.Close() })
	return e
}

func (e *recordingEndpoint) last() (thumbprint, body string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.thumbprints) == 0 {
		return "", ""
	}
	return e.thumbprints[len(e.thumbprints)-1], e.bodies[len(e.bodies)-1]
}

// certThumbprint is the SHA-256 thumbprint of the certificate in a .cer
// file that `cert create` wrote.
func certThumbprint(t *testing.T, file string) string {
	t.Helper()
	c, err := pki.ParseCertificateFile(mustRead(t, file), "")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// TestE2E_TokenIssuanceConnectorThroughCLI attaches a client-certificate
// connector to a resource application with the CLI, then: the token
// carries the connector's claim (and not its forged tid); a block refuses
// the token with the connector's message; an endpoint that is down fails
// closed, or issues without the claim with failOpen; a new certificate
// version imported while tokens are requested is used within 5 s without
// a failed request.
func TestE2E_TokenIssuanceConnectorThroughCLI(t *testing.T) {
	s := startDevServer(t)
	ep := startRecordingEndpoint(t, s.dir, tls.RequireAnyClientCert)

	ordersID := str(s.okJSON(t, "", "app", "create", "orders-api", "--identifier-uri", "api://orders")["appId"])
	s.ok(t, "", "app", "role", "add", "orders-api", "--value", "Orders.Read")
	billingID := str(s.okJSON(t, "", "app", "create", "billing-job")["appId"])
	secret := str(s.okJSON(t, "", "app", "secret", "add", "billing-job")["secretText"])
	s.addSecret(secret)
	s.ok(t, "", "grant", "add", "--client", billingID, "--resource", ordersID, "--role", "Orders.Read")

	s.ok(t, "", "cert", "create", "--subject", "CN=portcullis-connector", "--out", filepath.Join(s.dir, "conn1"), "--password", "pw-one-8c1")
	s.ok(t, "pw-one-8c1\n", "certificate", "import", "connector-client", filepath.Join(s.dir, "conn1.pfx"), "--password", "-")
	first := certThumbprint(t, filepath.Join(s.dir, "conn1.cer"))

	s.ok(t, "", "connector", "create", "billing-check", "--endpoint", ep.url,
		"--auth", "clientCertificate", "--certificate", "vault://default/certificates/connector-client", "--ca", ep.caFile,
		"--input-claim", "appid=appId", "--input-claim", "roles", "--output-claim", "costCenter", "--timeout", "2s",
		"--attach-resource", "orders-api")

	// token returns the decoded claims, or the exit code and stderr.
	token := func() (map[string]any, int, string) {
		t.Helper()
		code, out, errOut := s.cli(t, secret+"\n", "token", "get", "--client-id", billingID, "--secret", "-", "--scope", "api://orders/.default", "--decode", "-o", "json")
		if code != 0 {
			return nil, code, errOut
		}
		var v struct {
			Claims map[string]any `json:"claims"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("token get: %v\n%s", err, out)
		}
		return v.Claims, 0, ""
	}

	claims, code, errOut := token()
	if code != 0 {
		t.Fatalf("token with the connector: exit %d: %s", code, errOut)
	}
	if claims["costCenter"] != "CC-42" || claims["tid"] != s.cred.TenantID {
		t.Errorf("token claims costCenter %v, tid %v; want CC-42 and the tenant id (not the connector's forged tid)", claims["costCenter"], claims["tid"])
	}
	thumb, body := ep.last()
	if thumb != first {
		t.Errorf("the endpoint saw client certificate %s, want %s", thumb, first)
	}
	var sent map[string]any
	if err := json.Unmarshal([]byte(body), &sent); err != nil || sent["appId"] != billingID {
		t.Errorf("the endpoint got %s, want appId %s", body, billingID)
	}

	t.Run("a block refuses the token with the connector's message", func(t *testing.T) {
		ep.mode.Store("block")
		defer ep.mode.Store("continue")
		_, code, errOut := token()
		for _, w := range []string{"AADSTS501051", "unauthorized_client", "Billing is suspended for this client."} {
			if code != 1 || !strings.Contains(errOut, w) {
				t.Errorf("exit %d, stderr %q lacks %q", code, errOut, w)
			}
		}
	})

	// Rotation: a load loop of token requests runs while a new version
	// of the certificate is imported; none fails and the endpoint sees
	// the new certificate within 5 s.
	t.Run("rotation while tokens are issued", func(t *testing.T) {
		s.ok(t, "", "cert", "create", "--subject", "CN=portcullis-connector", "--out", filepath.Join(s.dir, "conn2"), "--password", "pw-two-4e7")
		second := certThumbprint(t, filepath.Join(s.dir, "conn2.cer"))
		client := s.httpClient(t)
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {billingID}, "client_secret": {secret}, "scope": {"api://orders/.default"}}
		tokenURL := s.cred.Addr + "/" + s.cred.TenantID + "/oauth2/v2.0/token"
		var calls, failures atomic.Int64
		var failure atomic.Value
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.PostForm(tokenURL, form)
				calls.Add(1)
				if err != nil {
					failures.Add(1)
					failure.Store(err.Error())
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failures.Add(1)
					failure.Store(string(b))
				}
			}
		}()
		imported := time.Now()
		s.ok(t, "pw-two-4e7\n", "certificate", "import", "connector-client", filepath.Join(s.dir, "conn2.pfx"), "--password", "-")
		deadline := imported.Add(5 * time.Second)
		for {
			if thumb, _ := ep.last(); thumb == second {
				break
			}
			if time.Now().After(deadline) {
				close(stop)
				<-done
				t.Fatalf("5 s after the import the endpoint still sees %s, not the new %s", thumb, second)
			}
			time.Sleep(20 * time.Millisecond)
		}
		seen := time.Since(imported)
		// A few more calls on the new certificate, then stop.
		for n := calls.Load(); calls.Load() < n+5; {
			time.Sleep(10 * time.Millisecond)
		}
		close(stop)
		<-done
		t.Logf("new certificate seen %v after the import; %d token requests, %d failed", seen.Round(time.Millisecond), calls.Load(), failures.Load())
		if failures.Load() != 0 {
			t.Errorf("%d of %d token requests failed during the rotation, e.g. %v", failures.Load(), calls.Load(), failure.Load())
		}
	})

	t.Run("an endpoint that is down fails closed, or open with failOpen", func(t *testing.T) {
		ep.srv.Close()
		_, code, errOut := token()
		for _, w := range []string{"temporarily_unavailable", "AADSTS1100001"} {
			if code != 1 || !strings.Contains(errOut, w) {
				t.Errorf("fail closed: exit %d, stderr %q lacks %q", code, errOut, w)
			}
		}
		s.ok(t, "", "connector", "update", "billing-check", "--failure-policy", "failOpen")
		claims, code, errOut := token()
		if code != 0 {
			t.Fatalf("failOpen: exit %d: %s", code, errOut)
		}
		if _, has := claims["costCenter"]; has || claims["aud"] != ordersID {
			t.Errorf("failOpen token: costCenter %v, aud %v; want no costCenter and aud %s", claims["costCenter"], claims["aud"], ordersID)
		}
		if !strings.Contains(s.logs.String(), "issuing without its claims (failOpen)") {
			t.Error("the failOpen issuance is not logged")
		}
	})
}

// TestE2E_BearerConnectorByClientCredentialsAgainstThisServer gives a
// token-issuance connector a bearer credential obtained by client
// credentials from this same dev server (https, its development CA): the
// endpoint receives a token of this server for its own resource, both from
// `connector invoke` and from the runtime before a token is minted.
func TestE2E_BearerConnectorByClientCredentialsAgainstThisServer(t *testing.T) {
	s := startDevServer(t)
	ep := startRecordingEndpoint(t, s.dir, tls.NoClientCert)

	ordersID := str(s.okJSON(t, "", "app", "create", "orders-api", "--identifier-uri", "api://orders")["appId"])
	s.ok(t, "", "app", "role", "add", "orders-api", "--value", "Orders.Read")
	billingID := str(s.okJSON(t, "", "app", "create", "billing-job")["appId"])
	secret := str(s.okJSON(t, "", "app", "secret", "add", "billing-job")["secretText"])
	s.addSecret(secret)
	s.ok(t, "", "grant", "add", "--client", billingID, "--resource", ordersID, "--role", "Orders.Read")
	// The connector's own identity, and the resource it calls.
	riskID := str(s.okJSON(t, "", "app", "create", "risk-api", "--identifier-uri", "api://risk")["appId"])
	s.ok(t, "", "app", "role", "add", "risk-api", "--value", "Risk.Score")
	callerID := str(s.okJSON(t, "", "app", "create", "portcullis-connector")["appId"])
	callerSecret := str(s.okJSON(t, "", "app", "secret", "add", "portcullis-connector")["secretText"])
	s.addSecret(callerSecret)
	s.ok(t, "", "grant", "add", "--client", callerID, "--resource", riskID, "--role", "Risk.Score")
	s.ok(t, callerSecret+"\n", "secret", "set", "connector-client-secret", "--value", "-")

	s.ok(t, "", "connector", "create", "risk", "--endpoint", ep.url, "--ca", ep.caFile,
		"--auth", "bearer", "--token-authority", s.cred.Addr+"/"+s.cred.TenantID, "--client-id", callerID,
		"--client-secret", "vault://default/secrets/connector-client-secret", "--scope", "api://risk/.default",
		"--input-claim", "appid=appId", "--output-claim", "costCenter", "--attach-resource", "orders-api")

	// audienceOf decodes the bearer token the endpoint received last.
	audienceOf := func() string {
		t.Helper()
		ep.mu.Lock()
		auth := ep.auths[len(ep.auths)-1]
		ep.mu.Unlock()
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		parts := strings.Split(tok, ".")
		if !ok || len(parts) != 3 {
			t.Fatalf("the endpoint got Authorization %.20q…, not a bearer JWT", auth)
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		var claims map[string]any
		if err != nil || json.Unmarshal(payload, &claims) != nil {
			t.Fatalf("the bearer token's payload does not decode: %v", err)
		}
		if claims["azp"] != callerID {
			t.Errorf("the bearer token was issued to %v, want the connector's client %s", claims["azp"], callerID)
		}
		return str(claims["aud"])
	}

	out := s.ok(t, "", "connector", "invoke", "risk", "--claim", "appid="+billingID)
	if !strings.Contains(out, "Authorization: [redacted]") || !strings.Contains(out, "Decision:  continue") {
		t.Errorf("connector invoke:\n%s", out)
	}
	if aud := audienceOf(); aud != riskID {
		t.Errorf("invoke: the endpoint got a token for %s, want risk-api %s", aud, riskID)
	}

	code, tokOut, errOut := s.cli(t, secret+"\n", "token", "get", "--client-id", billingID, "--secret", "-", "--scope", "api://orders/.default", "--decode", "-o", "json")
	if code != 0 {
		t.Fatalf("token with the bearer connector: exit %d: %s", code, errOut)
	}
	if !strings.Contains(tokOut, `"costCenter": "CC-42"`) && !strings.Contains(tokOut, `"costCenter":"CC-42"`) {
		t.Errorf("the token lacks the connector's claim:\n%s", tokOut)
	}
	if aud := audienceOf(); aud != riskID {
		t.Errorf("runtime: the endpoint got a token for %s, want risk-api %s", aud, riskID)
	}
}
