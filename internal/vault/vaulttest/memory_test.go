package vaulttest

import (
	"testing"

	"github.com/portcullis/portcullis/internal/vault"
)

func TestMemoryStore_Conformance(t *testing.T) {
	Run(t, func(*testing.T) vault.Store { return NewMemoryStore() })
}
