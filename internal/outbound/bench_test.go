package outbound_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/outbound"
)

// BenchmarkApply measures the request-path cost of each credential type:
// an atomic load and a header set.
func BenchmarkApply(b *testing.B) {
	v := newTestVault(b)
	v.setSecret(b, "pw", "benchmark-password")
	for _, c := range []struct {
		name string
		spec outbound.CredentialSpec
	}{
		{"basic", outbound.CredentialSpec{Type: "basic", Username: "u", Password: "vault://keys-kv/secrets/pw"}},
		{"apiKeyHeader", outbound.CredentialSpec{Type: "apiKeyHeader", Header: "x-functions-key", Key: "vault://keys-kv/secrets/pw"}},
		{"bearer", outbound.CredentialSpec{Type: "bearer", Token: "vault://keys-kv/secrets/pw"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			cred, err := outbound.Compile(c.spec, nil, outbound.Options{Target: "https://api.test/", Watcher: v.watcher})
			if err != nil {
				b.Fatal(err)
			}
			defer cred.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := cred.Ready(ctx); err != nil {
				b.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodGet, "https://api.test/", nil)
			b.ReportAllocs()
			for b.Loop() {
				if err := cred.Apply(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
