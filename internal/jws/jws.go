package jws

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// DefaultMaxLength is the size limit Parse applies when given none.
const DefaultMaxLength = 16 << 10

// ErrMalformed is wrapped by every Parse error.
var ErrMalformed = errors.New("malformed JWS")

// parseError says what is wrong with a token; it matches ErrMalformed.
type parseError struct{ reason string }

func (e *parseError) Error() string        { return e.reason }
func (e *parseError) Is(target error) bool { return target == ErrMalformed }

func malformed(format string, a ...any) error {
	return &parseError{reason: fmt.Sprintf(format, a...)}
}

// Header is the JOSE header of a compact JWS (RFC 7515 §4.1).
type Header struct {
	Alg     string          // alg: signature algorithm, never empty after Parse
	Typ     string          // typ
	Cty     string          // cty
	Kid     string          // kid: key id
	X5t     string          // x5t: SHA-1 thumbprint of the signer's certificate
	X5tS256 string          // x5t#S256: SHA-256 thumbprint of the signer's certificate
	X5c     []string        // x5c: certificate chain (never a source of trust)
	X5u     string          // x5u: certificate URL (never fetched)
	Jku     string          // jku: JWK set URL (never fetched)
	JWK     json.RawMessage // jwk: embedded key (never a source of trust)

	params []string // names of all parameters present, in no particular order
}

// Has reports whether the header carries the parameter name (exact
// spelling), even with an empty or null value. Callers use it to refuse
// jwk, jku and x5u outright.
func (h *Header) Has(name string) bool {
	for _, p := range h.params {
		if p == name {
			return true
		}
	}
	return false
}

// Token is a parsed, not yet verified, compact JWS.
type Token struct {
	Header Header
	// SigningInput is the ASCII "header.payload" the signature covers.
	SigningInput string
	// Payload is the decoded payload (for a JWT, the JSON claim set).
	Payload []byte
	// Signature is the decoded signature.
	Signature []byte
}

// Parse parses a compact JWS of at most maxLen bytes (DefaultMaxLength when
// maxLen <= 0). It checks the shape, the encoding and the header, and
// verifies nothing.
func Parse(raw string, maxLen int) (*Token, error) {
	if maxLen <= 0 {
		maxLen = DefaultMaxLength
	}
	if len(raw) > maxLen {
		return nil, malformed("the token is %d bytes; at most %d are accepted", len(raw), maxLen)
	}
	if n := strings.Count(raw, "."); n != 2 {
		return nil, malformed("a compact JWS has three dot-separated parts, this has %d", n+1)
	}
	h, rest, _ := strings.Cut(raw, ".")
	p, s, _ := strings.Cut(rest, ".")
	var t Token
	hb, err := decodeSegment(h)
	if err != nil {
		return nil, malformed("the header %v", err)
	}
	if err := t.Header.decode(hb); err != nil {
		return nil, err
	}
	if t.Payload, err = decodeSegment(p); err != nil {
		return nil, malformed("the payload %v", err)
	}
	if t.Signature, err = decodeSegment(s); err != nil {
		return nil, malformed("the signature %v", err)
	}
	t.SigningInput = raw[:len(h)+1+len(p)]
	return &t, nil
}

// decodeSegment decodes one segment: non-empty, base64url alphabet only,
// no padding, zero trailing bits (RFC 7515 §2 "Base64url Encoding").
func decodeSegment(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("is empty")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			if c == '=' {
				return nil, errors.New("has '=' padding; JWS segments are base64url without padding (RFC 7515 section 2)")
			}
			return nil, fmt.Errorf("has a character that is not base64url at offset %d", i)
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("is not canonical base64url (length or trailing bits)")
	}
	return b, nil
}

// decode fills h from the header JSON, matching parameter names exactly.
func (h *Header) decode(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return malformed("the header is not a JSON object")
	}
	h.params = make([]string, 0, len(m))
	for name, v := range m {
		h.params = append(h.params, name)
		var err error
		switch name {
		case "alg":
			err = json.Unmarshal(v, &h.Alg)
		case "typ":
			err = json.Unmarshal(v, &h.Typ)
		case "cty":
			err = json.Unmarshal(v, &h.Cty)
		case "kid":
			err = json.Unmarshal(v, &h.Kid)
		case "x5t":
			err = json.Unmarshal(v, &h.X5t)
		case "x5t#S256":
			err = json.Unmarshal(v, &h.X5tS256)
		case "x5c":
			err = json.Unmarshal(v, &h.X5c)
		case "x5u":
			err = json.Unmarshal(v, &h.X5u)
		case "jku":
			err = json.Unmarshal(v, &h.Jku)
		case "jwk":
			h.JWK = v
		case "crit":
			// RFC 7515 §4.1.11: a recipient that does not understand a listed
			// extension must reject the JWS; we understand none.
			var crit []string
			json.Unmarshal(v, &crit)
			return malformed("the header lists critical extensions %s, which are not understood (RFC 7515 section 4.1.11)", clipList(crit))
		}
		if err != nil {
			return malformed("the header parameter %q has the wrong JSON type", name)
		}
	}
	if h.Alg == "" {
		return malformed("the header has no alg")
	}
	return nil
}

func clipList(l []string) string {
	if len(l) > 5 {
		l = append(l[:5:5], "...")
	}
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = Clip(s, 40)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// Clip shortens s to at most n bytes of printable ASCII (others become
// '?', an ellipsis marks a cut), for quoting untrusted values in errors
// and logs.
func Clip(s string, n int) string {
	cut := len(s) > n
	if cut {
		s = s[:n]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if cut {
		return string(b) + "..."
	}
	return string(b)
}
