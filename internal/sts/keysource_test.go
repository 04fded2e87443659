package sts_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/sts"
)

func TestKey_ReturnsThePublishedKeyOfTheIssuersTenant(t *testing.T) {
	e := newEnvNoTLS(t)
	e.base = "https://sts.example"
	ctx := context.Background()
	kid := kidOf(t, e.issueInProcess(t))
	iss := e.base + "/" + e.tenant.ID + "/v2.0"
	k, err := e.srv.Key(ctx, iss, kid)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := k.(*rsa.PublicKey); !ok {
		t.Fatalf("key %T; want *rsa.PublicKey", k)
	}
	cases := []struct {
		name, iss, kid string
		want           error
	}{
		{"any https host (host-derived issuers)", "https://127.0.0.1:8443/" + e.tenant.ID + "/v2.0", kid, nil},
		{"http scheme", "http://sts.example/" + e.tenant.ID + "/v2.0", kid, sts.ErrUnknownIssuer},
		{"tenant by name", "https://sts.example/contoso/v2.0", kid, sts.ErrUnknownIssuer},
		{"tenant id upper-case", "https://sts.example/" + strings.ToUpper(e.tenant.ID) + "/v2.0", kid, sts.ErrUnknownIssuer},
		{"unknown tenant", "https://sts.example/" + guid() + "/v2.0", kid, sts.ErrUnknownIssuer},
		{"v1 issuer", "https://sts.example/" + e.tenant.ID + "/", kid, sts.ErrUnknownIssuer},
		{"extra path", "https://sts.example/x/" + e.tenant.ID + "/v2.0", kid, sts.ErrUnknownIssuer},
		{"no host", "https:///" + e.tenant.ID + "/v2.0", kid, sts.ErrUnknownIssuer},
		{"empty", "", kid, sts.ErrUnknownIssuer},
		{"unknown kid", iss, "nope", sts.ErrUnknownKey},
		{"empty kid", iss, "", sts.ErrUnknownKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.srv.Key(ctx, tc.iss, tc.kid)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v; want %v", err, tc.want)
			}
		})
	}
	t.Run("hit path allocates nothing", func(t *testing.T) {
		if n := testing.AllocsPerRun(100, func() { e.srv.Key(ctx, iss, kid) }); n != 0 {
			t.Fatalf("%v allocations per call; want 0", n)
		}
	})
	t.Run("a key that left the key set is gone", func(t *testing.T) {
		if _, err := e.srv.RotateSigningKeys(ctx, e.tenant.ID, true); err != nil {
			t.Fatal(err)
		}
		e.reload(t)
		if _, err := e.srv.Key(ctx, iss, kid); err != nil {
			t.Fatalf("retired key within its window: %v", err)
		}
		e.clock.Advance(25*time.Hour + 11*time.Minute) // MaxTokenLifetime + retire margin
		if _, err := e.srv.Key(ctx, iss, kid); !errors.Is(err, sts.ErrUnknownKey) {
			t.Fatalf("retired key past its window: err = %v; want ErrUnknownKey", err)
		}
	})
}

func TestKey_WithPublicURLAcceptsOnlyThatIssuer(t *testing.T) {
	e := newEnvNoTLS(t, func(c *sts.Config) { c.PublicURL = "https://login.example.com:8443/" })
	e.base = "https://127.0.0.1:1"
	ctx := context.Background()
	kid := kidOf(t, e.issueInProcess(t))
	for iss, want := range map[string]error{
		"https://login.example.com:8443/" + e.tenant.ID + "/v2.0":  nil,
		"https://login.example.com:8443//" + e.tenant.ID + "/v2.0": sts.ErrUnknownIssuer,
		"https://login.example.com/" + e.tenant.ID + "/v2.0":       sts.ErrUnknownIssuer,
		"https://127.0.0.1:1/" + e.tenant.ID + "/v2.0":             sts.ErrUnknownIssuer,
		"https://login.example.com:8443" + e.tenant.ID + "/v2.0":   sts.ErrUnknownIssuer,
	} {
		if _, err := e.srv.Key(ctx, iss, kid); want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("Key(%q) err = %v; want %v", iss, err, want)
		}
	}
}
