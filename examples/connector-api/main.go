// Command connector-api is an example of an API that an identity platform
// (or Portcullis) calls as an API connector: a small Go service protected
// in process by guard, with HTTP Basic or with client certificates pinned
// by thumbprint, several at once so that a certificate rollover never
// refuses a caller (the first source document).
//
// It answers POST /validate with the API-connector response contract:
//
//   - 200 {"version":"1.0.0","action":"Continue", ...output claims} to go on;
//   - 200 {"version":"1.0.0","action":"ShowBlockPage","userMessage":…} when
//     the caller's appId is listed with --block-app;
//   - 400 {"version":"1.0.0","status":400,"action":"ValidationError","userMessage":…}
//     when the appId claim is missing.
//
// Claims are read from a JSON body, a form, the query or X-Claim-* headers,
// whichever the connector sends. The answer names the client certificate
// that authenticated the call, so a rotation can be watched from the caller.
//
// Usage:
//
//	connector-api --listen 127.0.0.1:9443 --pin SHA256 [--pin SHA256]…        # mTLS
//	CONNECTOR_API_PASSWORD=… connector-api --listen 127.0.0.1:9443 --basic-user portcullis
//
// The server certificate is --tls-cert/--tls-key (PEM), or a self-signed one
// kept in --state-dir and reused across restarts; its SHA-256 thumbprint is
// printed at start, for the caller to pin.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/guard"
)

// passwordEnv holds the Basic password; an environment variable keeps it
// out of the process list and the shell history.
const passwordEnv = "CONNECTOR_API_PASSWORD"

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

type config struct {
	listen           string
	pins, blockApps  stringList
	basicUser        string
	password         string
	tlsCert, tlsKey  string
	stateDir         string
	costCenter       string
	shutdownDeadline time.Duration
}

func main() {
	log.SetFlags(0)
	var cfg config
	fs := flag.NewFlagSet("connector-api", flag.ExitOnError)
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:9443", "address to listen on (https)")
	fs.Var(&cfg.pins, "pin", "accept client certificates with this SHA-256 (or SHA-1) thumbprint; repeat during a rollover")
	fs.StringVar(&cfg.basicUser, "basic-user", "", "accept HTTP Basic for this user; the password is read from $"+passwordEnv)
	fs.Var(&cfg.blockApps, "block-app", "answer ShowBlockPage for this appId; repeatable")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "server certificate (PEM); default: a self-signed one in --state-dir")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "server private key (PEM) for --tls-cert")
	fs.StringVar(&cfg.stateDir, "state-dir", ".connector-api", "where the self-signed server certificate is kept")
	fs.StringVar(&cfg.costCenter, "cost-center", "CC-1000", "value of the costCenter output claim")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "connector-api: an example API connector endpoint protected by guard (Basic or pinned client certificates)\n\nUsage:\n  connector-api --pin SHA256 [--pin SHA256]...\n  %s=... connector-api --basic-user NAME\n\nFlags:\n", passwordEnv)
		fs.PrintDefaults()
	}
	_ = fs.Parse(os.Args[1:])
	cfg.password = os.Getenv(passwordEnv)
	cfg.shutdownDeadline = 10 * time.Second
	if err := run(context.Background(), cfg, nil); err != nil {
		log.Fatalf("connector-api: %v", err)
	}
}

// run serves until ctx ends or SIGINT/SIGTERM; ready, when not nil,
// receives the listener's address once it accepts.
func run(ctx context.Context, cfg config, ready chan<- string) error {
	policy, err := compilePolicy(cfg)
	if err != nil {
		return err
	}
	cert, err := serverCertificate(cfg)
	if err != nil {
		return err
	}
	tlsCfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// guard checks the certificate (pins, validity, clientAuth); the
		// handshake only asks for one.
		ClientAuth: tls.RequestClientCert,
	}
	mux := http.NewServeMux()
	mux.Handle("POST /validate", guard.Middleware(http.HandlerFunc(validate(cfg)), policy))
	srv := &http.Server{Handler: mux, TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second}

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	log.Printf("connector-api listening on https://%s/validate", ln.Addr())
	log.Printf("server certificate SHA-256 thumbprint: %s", thumbprint(cert.Leaf))
	if ready != nil {
		ready <- ln.Addr().String()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownDeadline)
	defer cancel()
	return srv.Shutdown(sctx)
}

// compilePolicy builds the guard policy of the flags: pinned client
// certificates, Basic, or both (either admits).
func compilePolicy(cfg config) (guard.Policy, error) {
	spec := guard.PolicySpec{Realm: "connector-api"}
	if len(cfg.pins) > 0 {
		m := guard.MethodSpec{Type: guard.SpecClientCertificate}
		for _, p := range cfg.pins {
			m.Pins = append(m.Pins, guard.CertificatePinSpec{Thumbprint: p})
		}
		spec.Methods = append(spec.Methods, m)
	}
	if cfg.basicUser != "" {
		if cfg.password == "" {
			return guard.Policy{}, fmt.Errorf("--basic-user needs the password in $%s", passwordEnv)
		}
		spec.Methods = append(spec.Methods, guard.MethodSpec{Type: guard.SpecBasic,
			Users: []guard.BasicUserSpec{{Name: cfg.basicUser, Password: "env:" + passwordEnv}}})
	}
	if len(spec.Methods) == 0 {
		return guard.Policy{}, errors.New("give --pin (client certificates) or --basic-user (Basic), or both")
	}
	return guard.CompilePolicy(spec, envResolver{password: cfg.password}, guard.CompileOptions{})
}

// envResolver resolves the one secret this example has, the Basic
// password; pins need no resolution.
type envResolver struct{ password string }

type fixedSecret struct{ v *guard.SecretValue }

func (f fixedSecret) Current() *guard.SecretValue { return f.v }

func (r envResolver) Secret(ref string) (guard.SecretRef, error) {
	if ref != "env:"+passwordEnv {
		return nil, fmt.Errorf("unknown secret %q", ref)
	}
	return fixedSecret{&guard.SecretValue{Value: []byte(r.password), Version: "env"}}, nil
}

func (envResolver) Certificates(string) ([]*x509.Certificate, error) {
	return nil, errors.New("this example pins certificates by thumbprint; it trusts no CA")
}

func (envResolver) Issuer(guard.IssuerSpec) (string, guard.KeySource, error) {
	return "", nil, errors.New("this example accepts no bearer tokens")
}

// validate answers with the API-connector response contract.
func validate(cfg config) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		caller, _ := guard.PrincipalFrom(r.Context())
		claims, err := readClaims(r)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"version": "1.0.0", "status": 400,
				"action": "ValidationError", "userMessage": err.Error()})
			return
		}
		appID, _ := claims["appId"].(string)
		via := string(caller.Method)
		if caller.Certificate != nil {
			via = "clientCertificate " + thumbprint(caller.Certificate)
		}
		log.Printf("call by %s (%s) for appId %q", caller.Subject, via, appID)
		switch {
		case appID == "":
			writeJSON(w, http.StatusBadRequest, map[string]any{"version": "1.0.0", "status": 400,
				"action": "ValidationError", "userMessage": "the appId claim is missing; send it as an input claim"})
		case slices.Contains(cfg.blockApps, appID):
			writeJSON(w, http.StatusOK, map[string]any{"version": "1.0.0", "action": "ShowBlockPage",
				"userMessage": "application " + appID + " is suspended; contact the API owner"})
		default:
			writeJSON(w, http.StatusOK, map[string]any{"version": "1.0.0", "action": "Continue",
				"costCenter": cfg.costCenter, "authenticatedBy": via})
		}
	}
}

// readClaims reads the claims wherever the connector put them: a JSON
// object body, a form body, the query, or X-Claim-NAME headers.
func readClaims(r *http.Request) (map[string]any, error) {
	claims := map[string]any{}
	for k, v := range r.URL.Query() {
		claims[k] = v[0]
	}
	for k, v := range r.Header {
		if name, ok := strings.CutPrefix(k, "X-Claim-"); ok && len(v) > 0 {
			claims[strings.ToLower(name[:1])+name[1:]] = v[0]
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || len(body) == 0 {
		return claims, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var in map[string]any
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, errors.New("the body is not a JSON object")
		}
		for k, v := range in {
			claims[k] = v
		}
	case "application/x-www-form-urlencoded":
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		if err := r.ParseForm(); err != nil {
			return nil, errors.New("the body is not a valid form")
		}
		for k, v := range r.PostForm {
			claims[k] = v[0]
		}
	default:
		return nil, fmt.Errorf("content type %q is not JSON or a form", ct)
	}
	return claims, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func thumbprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// serverCertificate loads --tls-cert/--tls-key, or a self-signed
// certificate for localhost kept in --state-dir (made on first start).
func serverCertificate(cfg config) (tls.Certificate, error) {
	certFile, keyFile := cfg.tlsCert, cfg.tlsKey
	if certFile == "" && keyFile == "" {
		certFile = filepath.Join(cfg.stateDir, "server.crt")
		keyFile = filepath.Join(cfg.stateDir, "server.key")
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			if err := selfSign(cfg.stateDir, certFile, keyFile); err != nil {
				return tls.Certificate{}, fmt.Errorf("make a self-signed server certificate in %s: %w", cfg.stateDir, err)
			}
		}
	} else if certFile == "" || keyFile == "" {
		return tls.Certificate{}, errors.New("give both --tls-cert and --tls-key, or neither")
	}
	return tls.LoadX509KeyPair(certFile, keyFile)
}

func selfSign(dir, certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "connector-api"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}
