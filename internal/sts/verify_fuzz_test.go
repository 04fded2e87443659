package sts_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/sts"
)

// FuzzVerifyAccessToken feeds bearer tokens, as any caller of the admin API
// or the vault can send them, to VerifyAccessToken: it must never panic,
// and nothing but the exact token the service issued may verify.
func FuzzVerifyAccessToken(f *testing.F) {
	e := newEnvNoTLS(f)
	e.base = "https://sts.example"
	valid := e.issueInProcess(f)
	f.Add(valid)
	parts := strings.Split(valid, ".")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-2] + "AA")
	f.Add("eyJhbGciOiJub25lIn0." + parts[1] + ".")
	f.Add("eyJhbGciOiJIUzI1NiJ9." + parts[1] + "." + parts[2])
	f.Add("")
	f.Add("...")
	f.Add("a.b.c.d")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := e.srv.VerifyAccessToken(raw)
		if err == nil && raw != valid {
			t.Fatalf("a token other than the issued one verified: %q → %+v", raw, c)
		}
		if err != nil && !errors.Is(err, sts.ErrInvalidToken) {
			t.Fatalf("error does not wrap ErrInvalidToken: %v", err)
		}
	})
}
