package vault_test

import (
	"bytes"
	"testing"

	"github.com/portcullis/portcullis/internal/vault"
)

func TestRandomBytes_CountBoundsAndFreshBytes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		count int
		ok    bool
	}{{1, true}, {32, true}, {vault.MaxRandomBytes, true}, {0, false}, {-1, false}, {vault.MaxRandomBytes + 1, false}} {
		b, err := e.svc.RandomBytes(e.ctx, admin, "default", tc.count)
		if !tc.ok {
			wantErr(t, err, vault.KindBadRequest, "between 1 and 128")
			continue
		}
		if err != nil || b.Len() != tc.count {
			t.Fatalf("count %d: %d bytes, %v", tc.count, b.Len(), err)
		}
	}
	a := must[vault.Value](t)(e.svc.RandomBytes(e.ctx, admin, "default", 32))
	b := must[vault.Value](t)(e.svc.RandomBytes(e.ctx, admin, "default", 32))
	if bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two draws of 32 bytes are equal")
	}
	_, err := e.svc.RandomBytes(e.ctx, admin, "novault", 1)
	wantErr(t, err, vault.KindNotFound)
}
