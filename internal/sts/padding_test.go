package sts_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/pki"
)

// One token, one spelling (RFC 7515 §2): a JWS whose segments carry '='
// padding or line breaks is refused, however the bytes decode.
func TestJWS_OtherSpellingsOfAValidTokenAreRefused(t *testing.T) {
	e := newEnvNoTLS(t)
	e.base = "https://sts.example"
	hdr := map[string]any{"x5t#S256": pki.X5TS256(e.rsaCert)}
	respell := map[string]func(string) string{
		"padding appended to the signature": func(s string) string { return s + "=" },
		"two padding characters":            func(s string) string { return s + "==" },
		"line feed in the signature":        func(s string) string { i := strings.LastIndexByte(s, '.'); return s[:i+3] + "\n" + s[i+3:] },
		"padding after the header":          func(s string) string { h, rest, _ := strings.Cut(s, "."); return h + "=." + rest },
	}
	for name, edit := range respell {
		t.Run("assertion/"+name, func(t *testing.T) {
			a := e.assertion(t, jwt.SigningMethodPS256, clientRSA, hdr, e.certClient.AppID, nil)
			w := e.serveInProcess(e.assertionForm(e.certClient.AppID, edit(a)).Encode(), true)
			if w.status != http.StatusUnauthorized || !strings.Contains(string(w.body), "AADSTS50027") {
				t.Fatalf("respelled assertion: %d %s; want 401 AADSTS50027", w.status, w.body)
			}
			// The original spelling still works (the refusal did not burn its jti).
			if w := e.serveInProcess(e.assertionForm(e.certClient.AppID, a).Encode(), true); w.status != http.StatusOK {
				t.Fatalf("original assertion: %d %s", w.status, w.body)
			}
		})
		t.Run("access token/"+name, func(t *testing.T) {
			tok := e.issueInProcess(t)
			// Verified as the vault and the admin API do: guard over the
			// in-process key source.
			var ge *guard.Error
			if _, err := e.verify(edit(tok)); !errors.As(err, &ge) || ge.Status != http.StatusUnauthorized || ge.Code != guard.CodeInvalidToken {
				t.Fatalf("respelled access token: err = %v; want 401 invalid_token", err)
			}
			if _, err := e.verify(tok); err != nil {
				t.Fatalf("original token: %v", err)
			}
		})
	}
}
