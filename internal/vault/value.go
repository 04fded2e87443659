package vault

import (
	"fmt"
	"io"
)

const redacted = "[redacted]"

// Value holds secret material (a secret's value, a PFX or PEM with a private
// key, plaintext of a crypto operation). Every way of printing or
// marshalling it yields "[redacted]"; Reveal and Bytes are the only ways out.
type Value struct{ b []byte }

// NewValue wraps b (not copied) as secret material.
func NewValue(b []byte) Value { return Value{b: b} }

// NewStringValue wraps s as secret material.
func NewStringValue(s string) Value { return Value{b: []byte(s)} }

// Bytes returns the material itself.
func (v Value) Bytes() []byte { return v.b }

// Reveal returns the material as a string, for the one place that must send it.
func (v Value) Reveal() string { return string(v.b) }

// Len returns the size of the material in bytes.
func (v Value) Len() int { return len(v.b) }

// String returns "[redacted]".
func (v Value) String() string { return redacted }

// GoString returns "[redacted]".
func (v Value) GoString() string { return redacted }

// Format prints "[redacted]" for every verb.
func (v Value) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON returns the JSON string "[redacted]": a wire encoder must call
// Reveal deliberately.
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[redacted]".
func (v Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }
