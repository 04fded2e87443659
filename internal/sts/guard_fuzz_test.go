package sts_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/guard"
)

// FuzzVerifier_InProcessKeySource feeds bearer tokens, as any caller of the
// admin API or the vault can send them, to guard's Verifier over this
// service's in-process key source, configured as internal/server does (RS256
// only). guard's own FuzzVerify uses a fixed key map; this target reaches
// sts.Server.Key with whatever iss and kid a token carries (issuer parsing,
// tenant lookup, the published-key window). It must never panic, refuse with
// 401 invalid_token only, and accept nothing but the token the service issued.
func FuzzVerifier_InProcessKeySource(f *testing.F) {
	e := newEnvNoTLS(f)
	e.base = "https://sts.example"
	v, err := guard.NewVerifier(guard.VerifierConfig{Keys: e.srv, Audiences: []string{e.resource.AppID}, Now: e.clock.Now, Algorithms: []string{"RS256"}})
	if err != nil {
		f.Fatal(err)
	}
	valid := e.issueInProcess(f)
	f.Add(valid)
	parts := strings.Split(valid, ".")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-2] + "AA")
	f.Add("eyJhbGciOiJub25lIn0." + parts[1] + ".")
	f.Add("eyJhbGciOiJIUzI1NiJ9." + parts[1] + "." + parts[2])
	// iss variants reach Key: another host, the tenant by name, a path.
	for _, iss := range []string{"https://x/" + e.tenant.ID + "/v2.0", "https://sts.example/contoso/v2.0", "https://sts.example//v2.0", "https:///v2.0"} {
		f.Add(parts[0] + "." + b64url(`{"iss":"`+iss+`","aud":"`+e.resource.AppID+`","exp":9999999999}`) + "." + parts[2])
	}
	f.Add("")
	f.Add("...")
	f.Add("a.b.c.d")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := v.Verify(ctx, raw)
		if err == nil {
			if raw != valid {
				t.Fatalf("a token other than the issued one verified: %q → %+v", raw, p)
			}
			return
		}
		var ge *guard.Error
		if !errors.As(err, &ge) || ge.Status != http.StatusUnauthorized || ge.Code != guard.CodeInvalidToken {
			t.Fatalf("error %#v is not 401 invalid_token", err)
		}
	})
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
