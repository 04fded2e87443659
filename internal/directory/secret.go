package directory

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"strings"
)

// secretAlphabet avoids characters that need escaping in URLs, shells and
// form bodies (the secret travels in client_secret_post and Basic headers).
const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// secretLength gives ~238 bits of entropy (40 × log2 62).
const secretLength = 40

// ClientSecret is a newly generated client secret: Text is shown to the user
// once; only Hash is stored. Printing, logging or marshalling a ClientSecret
// yields "[redacted]"; read Text explicitly to hand it over.
type ClientSecret struct {
	Text string
	Hash []byte
	Hint string
}

const redacted = "[redacted]"

// String never prints the secret text.
func (ClientSecret) String() string { return redacted }

// GoString never prints the secret text (the %#v verb).
func (ClientSecret) GoString() string { return redacted }

// MarshalJSON never encodes the secret text.
func (ClientSecret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// LogValue never logs the secret text.
func (ClientSecret) LogValue() slog.Value { return slog.StringValue(redacted) }

// NewClientSecret generates a secret in Entra's shape: a three-character hint,
// a "~" and random characters. The value is distinct in shape from credential
// ids (GUIDs), so a user who pastes the id instead gets a precise error.
func NewClientSecret() (ClientSecret, error) {
	buf := make([]byte, secretLength)
	if _, err := rand.Read(buf); err != nil {
		return ClientSecret{}, fmt.Errorf("generate client secret: %w", err)
	}
	var b strings.Builder
	for i, c := range buf {
		if i == 3 {
			b.WriteByte('~')
		}
		// The modulo bias of 256 % 62 costs under 0.1 bit per character.
		b.WriteByte(secretAlphabet[int(c)%len(secretAlphabet)])
	}
	text := b.String()
	return ClientSecret{Text: text, Hash: HashClientSecret(text), Hint: text[:3]}, nil
}

// HashClientSecret hashes a client secret for storage. Generated secrets carry
// over 200 bits of entropy, so a fast hash is sufficient (a slow KDF protects
// low-entropy passwords and would cap token throughput for no gain).
func HashClientSecret(text string) []byte {
	sum := sha256.Sum256([]byte(text))
	return sum[:]
}

// SecretMatches reports in constant time whether text hashes to hash.
func SecretMatches(hash []byte, text string) bool {
	sum := sha256.Sum256([]byte(text))
	return subtle.ConstantTimeCompare(hash, sum[:]) == 1
}
