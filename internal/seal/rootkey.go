package seal

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// RootKeySize is the size of a root key in bytes (AES-256).
const RootKeySize = 32

// idLen is the number of SHA-256 bytes kept as the root key id.
const idLen = 4

const redacted = "[redacted]"

// RootKey is a 32-byte AES-256 key that wraps data keys; every way of
// printing or marshalling it yields "[redacted]". The zero value is not a
// usable key.
type RootKey struct {
	key [RootKeySize]byte
	id  [idLen]byte
	set bool
}

func newRootKey(b []byte) RootKey {
	k := RootKey{set: true}
	copy(k.key[:], b)
	// Domain-separated so the id cannot be confused with any other hash of
	// the key; 4 bytes name a key, they do not authenticate it.
	sum := sha256.Sum256(append([]byte("portcullis seal root key id\x00"), k.key[:]...))
	copy(k.id[:], sum[:idLen])
	return k
}

// ID returns a short stable identifier of the key (8 hex characters derived
// from its SHA-256), recorded in sealed blobs; it is "" for the zero RootKey.
func (k RootKey) ID() string {
	if !k.set {
		return ""
	}
	return hex.EncodeToString(k.id[:])
}

// String returns "[redacted]".
func (k RootKey) String() string { return redacted }

// GoString returns "[redacted]".
func (k RootKey) GoString() string { return redacted }

// Format prints "[redacted]" for every fmt verb, so %x or %d cannot leak the key.
func (k RootKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON returns the JSON string "[redacted]".
func (k RootKey) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// errRootKeyForm deliberately does not quote the input: it is a secret.
var errRootKeyForm = errors.New("root key must be 32 bytes written as base64 (44 characters, or 43 unpadded; standard or URL alphabet) or as 64 hex characters")

// ParseRootKey parses a root key written as base64 (standard or URL
// alphabet, padded or not) of exactly 32 bytes, or as 64 hex characters;
// surrounding whitespace is ignored and errors never echo the input.
func ParseRootKey(s string) (RootKey, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*RootKeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return newRootKey(b), nil
		}
	}
	if strings.ContainsAny(s, "\r\n") { // the base64 decoders would skip them
		return RootKey{}, errRootKeyForm
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != RootKeySize {
				return RootKey{}, fmt.Errorf("%w; got %d bytes", errRootKeyForm, len(b))
			}
			return newRootKey(b), nil
		}
	}
	return RootKey{}, errRootKeyForm
}

// LoadRootKeyFile reads a root key file written in a form ParseRootKey
// accepts, refusing a file that its group or others may access.
func LoadRootKeyFile(path string) (RootKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return RootKey{}, fmt.Errorf("root key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return RootKey{}, fmt.Errorf("root key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return RootKey{}, fmt.Errorf("root key file %s: not a regular file", path)
	}
	// Windows has no POSIX modes; there the ACL is the operator's job.
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return RootKey{}, fmt.Errorf("root key file %s is accessible by group or others (mode %04o): run `chmod 600 %s`", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return RootKey{}, fmt.Errorf("root key file %s: %w", path, err)
	}
	k, err := ParseRootKey(string(b))
	if err != nil {
		return RootKey{}, fmt.Errorf("root key file %s: %w", path, err)
	}
	return k, nil
}

// GenerateRootKeyFile creates path (mode 0600, failing if it exists) holding
// a new random root key in standard base64 followed by a newline.
func GenerateRootKeyFile(path string) (RootKey, error) {
	b := make([]byte, RootKeySize)
	if _, err := rand.Read(b); err != nil {
		return RootKey{}, fmt.Errorf("generate root key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return RootKey{}, fmt.Errorf("generate root key: %w", err)
	}
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(b) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return RootKey{}, fmt.Errorf("generate root key %s: %w", path, err)
	}
	return newRootKey(b), nil
}
