package adminclient

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/pki"
)

func TestClient_ExplainAPISendsTheRequestAndDecodesTheResult(t *testing.T) {
	f := startFakeAdmin(t)
	c := f.newClient(t, "admin-secret", time.Now)
	ctx := context.Background()
	f.set(200, `{"tenant":"tid","api":"orders","steps":[{"phase":"authenticate","method":"bearer","outcome":"absent","detail":"no Authorization header"}],
		"allowed":false,"status":401,"error":"invalid_request","error_description":"no credentials"}`)
	res, err := c.ExplainAPI(ctx, "con toso", "orders", ExplainRequest{Method: "POST", Path: "/orders/1", Host: "api.example.com",
		Headers: map[string][]string{"Authorization": {"Bearer x"}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Allowed || res.Status != 401 || len(res.Steps) != 1 || res.Steps[0].Detail != "no Authorization header" || res.Description != "no credentials" {
		t.Errorf("decoded %+v", res)
	}
	last := len(f.requests) - 1
	if f.requests[last] != "POST /admin/v1/tenants/con%20toso/apis/orders/explain" {
		t.Errorf("sent %s", f.requests[last])
	}
	want := `{"method":"POST","path":"/orders/1","host":"api.example.com","headers":{"Authorization":["Bearer x"]}}`
	if f.bodies[last] != want {
		t.Errorf("body %s, want %s", f.bodies[last], want)
	}
	if _, err := c.ExplainAPI(ctx, "contoso", "..", ExplainRequest{}); err == nil {
		t.Error("an API named .. was sent")
	}
}

func TestClient_GatewayDecodesAndReportsAnOffGateway(t *testing.T) {
	f := startFakeAdmin(t)
	c := f.newClient(t, "admin-secret", time.Now)
	ctx := context.Background()
	f.set(200, `{"listeners":["https://127.0.0.1:8444"],"problems":[{"tenantId":"tid","api":"orders","reason":"vault://kv/secrets/pw does not resolve"}]}`)
	g, err := c.Gateway(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Listeners) != 1 || g.Listeners[0] != "https://127.0.0.1:8444" || len(g.Problems) != 1 || g.Problems[0] != (GatewayProblem{"tid", "orders", "vault://kv/secrets/pw does not resolve"}) {
		t.Errorf("decoded %+v", g)
	}
	if f.requests[len(f.requests)-1] != "GET /admin/v1/gateway" {
		t.Errorf("sent %s", f.requests[len(f.requests)-1])
	}
	f.set(503, `{"error":{"code":"ServiceUnavailable","message":"the gateway is off on this node"}}`)
	_, err = c.Gateway(ctx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || !strings.Contains(ae.Message, "gateway is off") {
		t.Errorf("503: %v", err)
	}
}

func TestGatewayRoots_AddTheCAFileToTheSystemRoots(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	ca, caKey, err := pki.NewCA("dev CA", time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _, err := pki.NewServerCertificate(ca, caKey, []string{"127.0.0.1"}, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool, err := GatewayRoots(caFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1", CurrentTime: now}); err != nil {
		t.Errorf("a gateway certificate of the dev CA is not trusted: %v", err)
	}
	if _, err := GatewayRoots(""); err != nil {
		t.Errorf("system roots alone: %v", err)
	}
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	if _, err := GatewayRoots(bad); err == nil || !strings.Contains(err.Error(), "holds no certificate") {
		t.Errorf("a file without a certificate: %v", err)
	}
	if _, err := GatewayRoots(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("a missing CA file was accepted")
	}
}
