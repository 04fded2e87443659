package seal

import (
	"fmt"
	"strings"
)

// MissingRootKeyError is the error of Keyring.Open for a blob sealed under a
// root key the keyring does not hold: it names that key and the ones held,
// and says how to give the missing key to the process (Hint, set by whoever
// configured the keyring with WithMissingKeyHint). It wraps
// ErrRootKeyMismatch.
type MissingRootKeyError struct {
	ID       string   // the root key that sealed the blob
	Current  string   // the keyring's current root key
	Previous []string // the keyring's previous root keys
	Hint     string
}

func (e *MissingRootKeyError) Error() string {
	held := "current root key " + e.Current
	if len(e.Previous) > 0 {
		held += ", previous " + strings.Join(e.Previous, ", ")
	}
	msg := fmt.Sprintf("%v: the blob is sealed by root key id %s, which this node does not hold (it holds %s)", ErrRootKeyMismatch, e.ID, held)
	if e.Hint != "" {
		msg += "; " + e.Hint
	}
	return msg
}

func (e *MissingRootKeyError) Unwrap() error { return ErrRootKeyMismatch }

// WithMissingKeyHint returns a keyring with the same keys whose
// MissingRootKeyErrors carry hint: how an operator gives the process a
// missing key (a flag, an environment variable).
func (k *Keyring) WithMissingKeyHint(hint string) *Keyring {
	c := *k
	c.hint = hint
	return &c
}
