package main

import (
	"strings"
	"testing"
)

func TestE2E_KeyRotationAndOctKeysThroughCLI(t *testing.T) {
	s := startDevServer(t)
	k := s.okJSON(t, "", "key", "create", "kek", "--kty", "oct", "--size", "192", "--ops", "wrapKey,unwrapKey")
	jwk, _ := k["key"].(map[string]any)
	if jwk["kty"] != "oct" || jwk["k"] != nil {
		t.Fatalf("oct key JSON: %v", jwk)
	}
	s.ok(t, "", "key", "create", "ec521", "--kty", "EC", "--curve", "P-521")
	if out := s.ok(t, "", "key", "create", "k256", "--kty", "EC", "--curve", "secp256k1"); !strings.Contains(out, "EC P-256K") {
		t.Errorf("key create P-256K:\n%s", out)
	}
	if out := s.ok(t, "", "key", "show", "ec521"); !strings.Contains(out, "EC P-521") {
		t.Errorf("key show P-521:\n%s", out)
	}
	if e := s.wantFailure(t, "", "key", "create", "bad", "--kty", "oct", "--size", "512"); !strings.Contains(e, "128, 192 or 256") {
		t.Errorf("oct --size 512: %s", e)
	}

	if out := s.ok(t, "", "key", "rotation-policy", "show", "kek"); !strings.Contains(out, "Notify P30D before expiry") || !strings.Contains(out, "default policy") {
		t.Errorf("default policy:\n%s", out)
	}
	out := s.ok(t, "", "key", "rotation-policy", "set", "kek", "--rotate-after", "P90D", "--expiry", "P1Y", "--notify-before-expiry", "P30D")
	if !strings.Contains(out, "Rotate P90D after creation; Notify P30D before expiry") || !strings.Contains(out, "P1Y") {
		t.Errorf("set policy:\n%s", out)
	}
	pol := s.okJSON(t, "", "key", "rotation-policy", "show", "kek")
	if attrs, _ := pol["attributes"].(map[string]any); attrs["expiryTime"] != "P1Y" {
		t.Errorf("policy JSON: %v", pol)
	}
	if e := s.wantFailure(t, "", "key", "rotation-policy", "set", "kek", "--rotate-after", "P1D"); !strings.Contains(e, "at least 7 days") {
		t.Errorf("short rotation: %s", e)
	}

	before, _ := k["key"].(map[string]any)
	rotated := s.okJSON(t, "", "key", "rotate", "kek")
	after, _ := rotated["key"].(map[string]any)
	if after["kid"] == before["kid"] || after["kty"] != "oct" {
		t.Fatalf("rotate: %v", after)
	}
	if attrs, _ := rotated["attributes"].(map[string]any); attrs["exp"] == nil {
		t.Errorf("rotated version has no expiry from the policy: %v", attrs)
	}
	if out := s.ok(t, "", "key", "rotate", "ec521"); !strings.Contains(out, "rotated key ec521: new version") || !strings.Contains(out, "EC P-521") {
		t.Errorf("rotate output:\n%s", out)
	}
	if vs := values(t, "key versions", s.okJSON(t, "", "key", "versions", "kek")); len(vs) != 2 {
		t.Errorf("%d versions after rotation", len(vs))
	}
}
