package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/portcullis/portcullis/internal/pki"
)

// explainArgs parses args as the flags of 'api explain'.
func explainArgs(args ...string) (string, error) {
	var rf requestFlags
	fs := pflag.NewFlagSet("explain", pflag.ContinueOnError)
	rf.register(fs, "", "")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	req, err := rf.explainRequest()
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(req)
	return string(b), err
}

func TestExplainFlags_BuildTheRequest(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, err := pki.NewCA("client CA", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pki.EncodeCertificatePEM(ca)
	keyDER, err := x509.MarshalPKCS8PrivateKey(caKey)
	if err != nil {
		t.Fatal(err)
	}
	withKey := filepath.Join(dir, "with-key.pem")
	os.WriteFile(withKey, append(append([]byte{}, certPEM...), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...), 0o600)
	der := filepath.Join(dir, "client.cer")
	os.WriteFile(der, ca.Raw, 0o600)
	notCert := filepath.Join(dir, "key.pem")
	os.WriteFile(notCert, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	certJSON := jsonOf(t, string(certPEM))

	cases := []struct {
		name string
		args []string
		want string // the request's JSON, or the error's words
		err  bool
	}{
		{"nothing: the defaults are the server's", nil, `{}`, false},
		{"method, path, host and headers", []string{"--method", "post", "--path", "/orders/1?x=y", "--host", "api.example.com",
			"--header", "Authorization: Bearer  abc ", "--header", "x-functions-key:k1", "--header", "X-Functions-Key: k2"},
			`{"method":"POST","path":"/orders/1?x=y","host":"api.example.com","headers":{"Authorization":["Bearer  abc"],"X-Functions-Key":["k1","k2"]}}`, false},
		{"a Host header is --host", []string{"--header", "Host: api.example.com"}, `{"host":"api.example.com"}`, false},
		{"an empty value is kept", []string{"--header", "X-Empty:"}, `{"headers":{"X-Empty":[""]}}`, false},
		{"only the certificates of a file with a key", []string{"--cert", withKey}, `{"certificate":` + certJSON + `}`, false},
		{"a DER certificate", []string{"--cert", der}, `{"certificate":` + certJSON + `}`, false},

		{"no colon", []string{"--header", "Authorization Bearer s3cr3t"}, "--header #1 has no ':'", true},
		{"no name", []string{"--header", ": s3cr3t"}, "--header #1 has no name", true},
		{"space before the colon", []string{"--header", "X-Key : s3cr3t"}, "space before ':'", true},
		{"not a name", []string{"--header", "X-Ok: 1", "--header", "Bad Name: s3cr3t"}, "--header #2: the part before ':' is not a header name", true},
		{"a name=value form", []string{"--header", "Authorization=Bearer:s3cr3t"}, "is not a header name", true},
		{"a line break", []string{"--header", "X-Key: s3cr3t\r\nX-Other: 1"}, "--header #1 (X-Key): the value holds a line break", true},
		{"two hosts", []string{"--host", "a.example.com", "--header", "Host: b.example.com"}, "--host and a Host header differ", true},
		{"bad method", []string{"--method", "GE T"}, `--method "GE T"`, true},
		{"relative path", []string{"--path", "orders"}, "absolute path", true},
		{"relative path with a key", []string{"--path", "orders?code=s3cr3t"}, `--path "orders?…"`, true},
		{"URL with a key as path", []string{"--path", "https://h/x?code=s3cr3t"}, "absolute path", true},
		{"absolute URL as path", []string{"--path", "https://h/x"}, "absolute path", true},
		{"bad host", []string{"--host", "https://api.example.com"}, "--host", true},
		{"a file without a certificate", []string{"--cert", notCert}, "holds no certificate", true},
		{"a missing file", []string{"--cert", filepath.Join(dir, "missing.pem")}, "--cert", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := explainArgs(c.args...)
			if c.err {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("err = %v, want one with %q", err, c.want)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("the error prints a header value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if compactJSON(t, got) != compactJSON(t, c.want) {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			if strings.Contains(got, "PRIVATE KEY") {
				t.Error("the private key would be sent")
			}
		})
	}
}

// FuzzParseHeader: any --header value is a valid header or refused with an
// error that does not print the value.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"Authorization: Bearer x", "a:b", ":", "", "X : y", "X: a\r\nb", "Name=value", "ä: x", "X:\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, value, err := parseHeader(1, s)
		if err != nil {
			_, v, _ := strings.Cut(s, ":")
			if v = strings.TrimSpace(v); len(v) >= 6 && strings.Contains(err.Error(), v) && !strings.Contains("--header #1 has no name before ':': use 'Name: value'", v) {
				t.Fatalf("the error %q prints the value %q", err, v)
			}
			return
		}
		if !isToken(name) || strings.ContainsAny(value, "\r\n\x00") {
			t.Fatalf("accepted %q as %q: %q", s, name, value)
		}
		h := http.Header{}
		h.Add(name, value)
		if h.Get(name) != value {
			t.Fatalf("%q does not round-trip through http.Header", s)
		}
	})
}

func TestPrintExplain_StepsAlignedThenDecisionAndPrincipal(t *testing.T) {
	dir := isolate(t)
	fs := startFakeServer(t, dir)
	fs.writeDevCredential(t, filepath.Join(dir, "portcullis-data"))
	route := "POST /admin/v1/tenants/default/apis/{name}/explain"
	fs.answer(route, 200, `{"tenant":"t1","api":"orders","steps":[
		{"phase":"authenticate","method":"bearer","outcome":"absent","detail":"no Authorization header"},
		{"phase":"authenticate","method":"clientCertificate","outcome":"admitted","detail":"pinned thumbprint\u001b[31m"},
		{"phase":"authenticate","method":"clientCertificate","rule":"revocation","outcome":"held","detail":"OCSP responder http://ocsp.example: good until 2026-12-06T12:00:00Z"},
		{"phase":"authorize","rule":"roles","outcome":"held","detail":"role Orders.Read"}],
		"allowed":true,"status":200,"principal":{"method":"clientCertificate","subject":"CN=orders-client","roles":["Orders.Read"],"credentialId":"ab12"}}`)
	code, out, errOut := exec(t, "", "api", "explain", "orders", "--path", "/orders/1", "--header", "Authorization: Bearer s3cr3t")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "authenticate  bearer                        absent    no Authorization header\n" +
		"authenticate  clientCertificate             admitted  pinned thumbprint[31m\n" +
		"authenticate  clientCertificate revocation  held      OCSP responder http://ocsp.example: good until 2026-12-06T12:00:00Z\n" +
		"authorize     roles                         held      role Orders.Read\n" +
		"decision   allowed: the request goes to the backend\n" +
		"principal  method clientCertificate; subject CN=orders-client; roles Orders.Read; credential ab12\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	fs.mu.Lock()
	sent := fs.bodies[route]
	fs.mu.Unlock()
	if compactJSON(t, sent) != compactJSON(t, `{"path":"/orders/1","headers":{"Authorization":["Bearer s3cr3t"]}}`) {
		t.Errorf("sent %s", sent)
	}

	fs.answer(route, 200, `{"tenant":"t1","api":"orders","steps":[{"phase":"authenticate","method":"basic","outcome":"refused","detail":"wrong password"}],
		"allowed":false,"status":401,"error":"invalid_request","error_description":"the user name or password is wrong"}`)
	_, out, _ = exec(t, "", "api", "explain", "orders")
	if !strings.Contains(out, "decision   refused: 401 invalid_request: the user name or password is wrong\nprincipal  none\n") {
		t.Errorf("refused:\n%s", out)
	}
	_, out, _ = exec(t, "", "api", "explain", "orders", "-o", "json")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["status"] != float64(401) {
		t.Errorf("-o json: %v %s", err, out)
	}

	fs.answer(route, 503, `{"error":{"code":"ServiceUnavailable","message":"the gateway is off on this node (start 'portcullis serve' with --gateway-listen)"}}`)
	code, _, errOut = exec(t, "", "api", "explain", "orders")
	if code != 1 || !strings.Contains(errOut, "gateway is off") {
		t.Errorf("gateway off: exit %d, %s", code, errOut)
	}
	code, _, errOut = exec(t, "", "api", "explain", "orders", "--header", "Authorization")
	if code != 1 || !strings.Contains(errOut, "--header #1 has no ':'") {
		t.Errorf("bad header: exit %d, %s", code, errOut)
	}
}

func TestAPIShow_PrintsTheGatewaysProblem(t *testing.T) {
	dir := isolate(t)
	fs := startFakeServer(t, dir)
	fs.writeDevCredential(t, filepath.Join(dir, "portcullis-data"))
	fs.answer("GET /admin/v1/tenants/default/apis/{name}", 200, `{"tenantId":"t1","name":"orders","match":{"pathPrefix":"/orders"},"backend":{"urls":["http://127.0.0.1:9000"]},
		"policy":{"methods":[{"type":"basic","users":[{"name":"u","password":"vault://kv/secrets/pw"}]}]},"revision":3}`)
	for _, c := range []struct {
		name   string
		status int
		body   string
		code   int
		want   string
		absent string
	}{
		{"a problem", 200, `{"listeners":[],"problems":[{"tenantId":"t2","api":"orders","reason":"other tenant"},{"tenantId":"t1","api":"orders","reason":"vault://kv/secrets/pw does not resolve"}]}`,
			0, "Gateway problem: vault://kv/secrets/pw does not resolve (the gateway answers 503", "other tenant"},
		{"none", 200, `{"listeners":[],"problems":[]}`, 0, "Rules (all must hold)", "Gateway problem"},
		{"gateway off", 503, `{"error":{"code":"ServiceUnavailable","message":"off"}}`, 0, "Rules (all must hold)", "Gateway problem"},
		{"gateway state unreadable", 500, `{"error":{"code":"InternalError","message":"internal error"}}`, 1, "internal error", "Gateway problem"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs.answer("GET /admin/v1/gateway", c.status, c.body)
			code, out, errOut := exec(t, "", "api", "show", "orders")
			if code != c.code || !strings.Contains(out+errOut, c.want) || strings.Contains(out+errOut, c.absent) {
				t.Errorf("exit %d\n%s%s\nwant exit %d with %q, without %q", code, out, errOut, c.code, c.want, c.absent)
			}
		})
	}
	_, out, _ := exec(t, "", "api", "show", "orders", "-o", "json")
	if strings.Contains(out, "Gateway problem") {
		t.Errorf("-o json prints the problem:\n%s", out)
	}
}

// gatewayStandIn is a TLS server that records what reaches it and answers
// like the gateway.
type gatewayStandIn struct {
	url string
	mu  sync.Mutex
	got []string // "METHOD HOST PATH BODY HEADER CERT-CN"
}

func startGatewayStandIn(t *testing.T, dir string, hosts []string) (*gatewayStandIn, string) {
	t.Helper()
	now := time.Now()
	ca, caKey, err := pki.NewCA("gateway CA", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, key, err := pki.NewServerCertificate(ca, caKey, hosts, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "gateway-ca.pem")
	os.WriteFile(caFile, pki.EncodeCertificatePEM(ca), 0o600)
	g := &gatewayStandIn{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		cn := "-"
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		g.mu.Lock()
		g.got = append(g.got, strings.Join([]string{r.Method, r.Host, r.URL.RequestURI(), string(b), r.Header.Get("X-Functions-Key"), cn}, " "))
		g.mu.Unlock()
		w.Header().Set("X-Portcullis-Decision-Id", "d-42")
		if r.Header.Get("X-Functions-Key") != "k1" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_token","error_description":"no key"}`)
			return
		}
		io.WriteString(w, strings.Repeat("x", maxShownBody+10))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0), TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key}}, ClientAuth: tls.RequestClientCert}}
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	g.url = "https://" + ln.Addr().String()
	return g, caFile
}

// afterProto drops the protocol of the status line, HTTP/1.1 or HTTP/2.0
// as the TLS handshake negotiated.
func afterProto(out string) string {
	if p, rest, ok := strings.Cut(out, " "); ok && strings.HasPrefix(p, "HTTP/") {
		return " " + rest
	}
	return out
}

func (g *gatewayStandIn) last() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.got) == 0 {
		return ""
	}
	return g.got[len(g.got)-1]
}

func TestAPITest_SendsARealRequestThroughTheGateway(t *testing.T) {
	dir := isolate(t)
	gw, caFile := startGatewayStandIn(t, dir, []string{"127.0.0.1"})
	clientCert := filepath.Join(dir, "client.pem")
	clientKey := filepath.Join(dir, "client.key")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.SelfSigned(pkix.Name{CommonName: "orders-client"}, key, time.Hour, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(clientCert, pki.EncodeCertificatePEM(cert), 0o600)
	os.WriteFile(clientKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	os.WriteFile(filepath.Join(dir, "body.json"), []byte(`{"id":1}`), 0o600)

	// Everything given by flags: no admin API is needed.
	code, out, errOut := exec(t, "", "api", "test", "functions", "--gateway", gw.url, "--ca", caFile, "--path", "/api/orders?x=1",
		"--host", "api.example.com", "--header", "x-functions-key: k1", "--data", "@body.json", "--cert", clientCert, "--key", clientKey)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got := gw.last(); got != `POST api.example.com /api/orders?x=1 {"id":1} k1 orders-client` {
		t.Errorf("the gateway got %q", got)
	}
	out = afterProto(out)
	if !strings.HasPrefix(out, " 200 OK\nX-Portcullis-Decision-Id: d-42\n\n"+strings.Repeat("x", maxShownBody)+"\n… (10 more bytes not shown)\n") {
		t.Errorf("output:\n%s", out)
	}

	code, out, errOut = exec(t, "", "api", "test", "functions", "--gateway", gw.url, "--ca", caFile, "--path", "/api", "--host", "h", "--method", "PUT")
	if code != 1 || !strings.Contains(errOut, "the gateway answered 401 Unauthorized") {
		t.Errorf("401: exit %d, %s", code, errOut)
	}
	out = afterProto(out)
	want := " 401 Unauthorized\nX-Portcullis-Decision-Id: d-42\nWWW-Authenticate: Bearer error=\"invalid_token\"\n\n{\"error\":\"invalid_token\",\"error_description\":\"no key\"}\n"
	if out != want || gw.last() != "PUT h /api   -" {
		t.Errorf("401 output:\n%s\nwant:\n%s\ngateway got %q", out, want, gw.last())
	}

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"untrusted", []string{"--gateway", gw.url, "--path", "/", "--host", "h"}, "not trusted"},
		{"unreachable, a key in the path", []string{"--gateway", closedGateway(t), "--ca", caFile, "--path", "/api?code=s3cr3t", "--host", "h"}, "GET /api?… through the gateway"},
		{"untrusted, a key in the path", []string{"--gateway", gw.url, "--path", "/api?code=s3cr3t", "--host", "h"}, "not trusted"},
		{"bad gateway URL", []string{"--gateway", "ftp://x", "--path", "/", "--host", "h"}, "--gateway"},
		{"key without cert", []string{"--key", clientKey, "--gateway", gw.url}, "--key needs --cert"},
		{"cert without key", []string{"--cert", clientCert, "--gateway", gw.url}, "--key"},
		{"missing data file", []string{"--data", "@nope.json", "--gateway", gw.url}, "--data"},
		{"json output", []string{"-o", "json", "--gateway", gw.url}, "no JSON form"},
		{"no admin credential for the defaults", []string{"--gateway", gw.url, "--ca", caFile}, "admin.json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := exec(t, "", append([]string{"api", "test", "functions"}, c.args...)...)
			if code != 1 || !strings.Contains(errOut, c.want) {
				t.Errorf("exit %d, %s; want %q", code, errOut, c.want)
			}
			if strings.Contains(errOut, "s3cr3t") {
				t.Errorf("the error prints the query of --path: %s", errOut)
			}
		})
	}
	code, _, errOut = exec(t, "", "api", "test", "functions", "--gateway", gw.url, "--insecure-skip-verify", "--path", "/", "--host", "h", "--header", "X-Functions-Key: k1")
	if code != 0 {
		t.Errorf("--insecure-skip-verify: exit %d, %s", code, errOut)
	}
}

// closedGateway is the URL of a port nothing listens on.
func closedGateway(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "https://" + addr
}

func TestAPITest_DefaultsComeFromTheServer(t *testing.T) {
	dir := isolate(t)
	fs := startFakeServer(t, dir)
	fs.writeDevCredential(t, filepath.Join(dir, "portcullis-data"))
	// The gateway's certificate names the virtual host only: it is
	// accepted for it, and issued by the CA the admin API's trust names.
	gw, caFile := startGatewayStandIn(t, dir, []string{"api.example.com"})
	t.Setenv("PORTCULLIS_CA", caFile)
	port := gw.url[strings.LastIndexByte(gw.url, ':')+1:]
	fs.answer("GET /admin/v1/gateway", 200, `{"listeners":["http://127.0.0.1:1","https://0.0.0.0:`+port+`"],"problems":[]}`)
	fs.answer("GET /admin/v1/tenants/default/apis/{name}", 200, `{"tenantId":"t1","name":"functions","match":{"hosts":["*.example.org","api.example.com"],"pathPrefix":"/api"},
		"backend":{"urls":["http://127.0.0.1:9000"]},"policy":{"methods":[]},"revision":1}`)
	// PORTCULLIS_CA is the admin API's CA too: the fake admin is under
	// another CA, so trust both for this run.
	both := filepath.Join(dir, "both.pem")
	a, _ := os.ReadFile(fs.caFile)
	b, _ := os.ReadFile(caFile)
	os.WriteFile(both, append(a, b...), 0o600)
	t.Setenv("PORTCULLIS_CA", both)
	code, out, errOut := exec(t, "", "api", "test", "functions", "--header", "X-Functions-Key: k1")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	if got := gw.last(); got != "GET api.example.com /api  k1 -" {
		t.Errorf("the gateway got %q", got)
	}

	fs.answer("GET /admin/v1/gateway", 200, `{"listeners":[],"problems":[]}`)
	if code, _, errOut := exec(t, "", "api", "test", "functions"); code != 1 || !strings.Contains(errOut, "no gateway listener") {
		t.Errorf("no listener: exit %d, %s", code, errOut)
	}
	fs.answer("GET /admin/v1/gateway", 503, `{"error":{"code":"ServiceUnavailable","message":"the gateway is off on this node"}}`)
	if code, _, errOut := exec(t, "", "api", "test", "functions"); code != 1 || !strings.Contains(errOut, "gateway is off") {
		t.Errorf("gateway off: exit %d, %s", code, errOut)
	}
}
