package vault

import (
	"context"
	"crypto/rand"
)

// MaxRandomBytes is the largest count RandomBytes serves (Managed HSM's limit).
const MaxRandomBytes = 128

// RandomBytes returns count (1..MaxRandomBytes) bytes from the operating
// system's CSPRNG: Managed HSM's GetRandomBytes (POST /rng). It needs the
// rng permission on the vault (Crypto User, Crypto Officer,
// Administrator); the bytes are not recorded anywhere, the audit record
// names only the operation.
func (s *Service) RandomBytes(ctx context.Context, c Caller, vault string, count int) (out Value, err error) {
	o := s.begin(ctx, c, vault, "", "", "", PermRNG)
	defer o.end(&err)
	if _, err := o.authorize("", false); err != nil {
		return Value{}, err
	}
	if count < 1 || count > MaxRandomBytes {
		return Value{}, badRequest("count must be between 1 and %d, got %d", MaxRandomBytes, count)
	}
	b := make([]byte, count)
	if _, err := rand.Read(b); err != nil {
		return Value{}, internal(err, "random bytes")
	}
	return NewValue(b), nil
}
