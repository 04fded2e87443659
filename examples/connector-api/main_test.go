package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"
)

func clientCertificate(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// TestConnectorAPI drives the example over real TLS: pinned certificates
// (old and new during a rollover), Basic, and each answer of the contract.
func TestConnectorAPI(t *testing.T) {
	oldCert, newCert, otherCert := clientCertificate(t, "old"), clientCertificate(t, "new"), clientCertificate(t, "other")
	cfg := config{
		listen:           "127.0.0.1:0",
		pins:             stringList{thumbprint(oldCert.Leaf), strings.ToLower(thumbprint(newCert.Leaf))},
		basicUser:        "portcullis",
		password:         "s3cret-pw",
		blockApps:        stringList{"blocked-app"},
		stateDir:         t.TempDir(),
		costCenter:       "CC-42",
		shutdownDeadline: time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})

	client := func(cert *tls.Certificate) *http.Client {
		cfg := &tls.Config{InsecureSkipVerify: true} // the example's self-signed server certificate
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	}
	endpoint := "https://" + addr + "/validate"
	cases := []struct {
		name        string
		cert        *tls.Certificate
		basic       [2]string
		contentType string
		body        string
		query       string
		wantStatus  int
		wantAction  string
		wantBy      string
	}{
		{name: "old certificate during rollover", cert: &oldCert, contentType: "application/json", body: `{"appId":"a1"}`, wantStatus: 200, wantAction: "Continue", wantBy: "clientCertificate " + thumbprint(oldCert.Leaf)},
		{name: "new certificate during rollover", cert: &newCert, contentType: "application/json", body: `{"appId":"a1"}`, wantStatus: 200, wantAction: "Continue", wantBy: "clientCertificate " + thumbprint(newCert.Leaf)},
		{name: "unpinned certificate", cert: &otherCert, contentType: "application/json", body: `{"appId":"a1"}`, wantStatus: 401},
		{name: "no credential", contentType: "application/json", body: `{"appId":"a1"}`, wantStatus: 401},
		{name: "basic", basic: [2]string{"portcullis", "s3cret-pw"}, contentType: "application/x-www-form-urlencoded", body: "appId=a2", wantStatus: 200, wantAction: "Continue", wantBy: "basic"},
		{name: "basic wrong password", basic: [2]string{"portcullis", "guess"}, contentType: "application/json", body: `{"appId":"a1"}`, wantStatus: 401},
		{name: "claims in the query", cert: &newCert, query: "?appId=a3", wantStatus: 200, wantAction: "Continue"},
		{name: "blocked app", cert: &newCert, contentType: "application/json", body: `{"appId":"blocked-app"}`, wantStatus: 200, wantAction: "ShowBlockPage"},
		{name: "missing appId", cert: &newCert, contentType: "application/json", body: `{"other":"x"}`, wantStatus: 400, wantAction: "ValidationError"},
		{name: "not JSON", cert: &newCert, contentType: "application/json", body: `{`, wantStatus: 400, wantAction: "ValidationError"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, endpoint+tc.query, strings.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.basic[0] != "" {
				req.SetBasicAuth(tc.basic[0], tc.basic[1])
			}
			resp, err := client(tc.cert).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantAction == "" {
				return
			}
			var out map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			if out["action"] != tc.wantAction {
				t.Errorf("action %v, want %s (%v)", out["action"], tc.wantAction, out)
			}
			if tc.wantBy != "" && out["authenticatedBy"] != tc.wantBy {
				t.Errorf("authenticatedBy %v, want %s", out["authenticatedBy"], tc.wantBy)
			}
			if tc.wantAction == "Continue" && out["costCenter"] != "CC-42" {
				t.Errorf("costCenter %v", out["costCenter"])
			}
		})
	}
}

func TestCompilePolicyRefusesNoMethod(t *testing.T) {
	for _, cfg := range []config{{}, {basicUser: "u"}} {
		if _, err := compilePolicy(cfg); err == nil {
			t.Errorf("compilePolicy(%+v) accepted", cfg)
		}
	}
}
