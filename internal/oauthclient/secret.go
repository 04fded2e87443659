package oauthclient

import (
	"encoding/json"
	"fmt"
)

// redacted is what a Secret prints as, however it is formatted.
const redacted = "[redacted]"

// Secret holds a client secret (or any credential text) so that it cannot be
// printed, logged or marshalled by accident: String, GoString, Format,
// MarshalJSON and MarshalText all yield [redacted]; Reveal returns the text.
// The text sits behind a pointer so that even fmt's reflection over a struct
// holding a Secret in an unexported field prints an address, not the text.
type Secret struct {
	v *string
}

// NewSecret wraps s in a Secret.
func NewSecret(s string) Secret {
	return Secret{v: &s}
}

// Reveal returns the secret text; call it only where the text is sent.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether s holds no text.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// String returns [redacted].
func (s Secret) String() string { return redacted }

// GoString returns [redacted].
func (s Secret) GoString() string { return redacted }

// Format writes [redacted] for every verb.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON returns the JSON string "[redacted]".
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// MarshalText returns [redacted].
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// UnmarshalJSON reads a JSON string into s, so that configuration files can
// hold secrets in a Secret-typed field.
func (s *Secret) UnmarshalJSON(b []byte) error {
	var text string
	if err := json.Unmarshal(b, &text); err != nil {
		return fmt.Errorf("secret: want a JSON string")
	}
	*s = NewSecret(text)
	return nil
}
