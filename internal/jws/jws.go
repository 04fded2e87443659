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

// ErrMalformed is matched (errors.Is) by every Parse error.
var ErrMalformed = errors.New("malformed JWS")

// Segment names the part of a compact JWS a ParseError is about.
type Segment int

const (
	SegmentToken     Segment = iota // the token as a whole: its size or its number of segments
	SegmentHeader                   // the JOSE header
	SegmentPayload                  // the payload
	SegmentSignature                // the signature
)

// A ParseError says which segment of a token is malformed and why; it
// matches ErrMalformed. Callers that map parse failures onto their own
// protocol's errors (the token service does, for Entra-compatible
// messages) branch on its fields rather than on its text.
type ParseError struct {
	Segment Segment
	// Encoding is true when the segment is not strict base64url (or is
	// empty); false when it decodes but its content is wrong.
	Encoding bool
	// Header is the decoded header when the header segment is a
	// well-formed JSON object with parameters of the right types, even
	// though the token is refused (for a "crit", a missing alg, or a later
	// segment): a caller can then report a problem with the header's
	// parameters, such as an alg it does not accept, before one with a
	// later segment. Nil otherwise.
	Header *Header

	reason string
}

func (e *ParseError) Error() string        { return e.reason }
func (e *ParseError) Is(target error) bool { return target == ErrMalformed }

func malformed(seg Segment, format string, a ...any) *ParseError {
	return &ParseError{Segment: seg, reason: fmt.Sprintf(format, a...)}
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
	Crit    []string        // crit: set only in a ParseError's Header (Parse refuses any crit)

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
		return nil, malformed(SegmentToken, "the token is %d bytes; at most %d are accepted", len(raw), maxLen)
	}
	if n := strings.Count(raw, "."); n != 2 {
		return nil, malformed(SegmentToken, "a compact JWS has three dot-separated parts, this has %d", n+1)
	}
	h, rest, _ := strings.Cut(raw, ".")
	p, s, _ := strings.Cut(rest, ".")
	var t Token
	hb, err := decodeSegment(h)
	if err != nil {
		return nil, &ParseError{Segment: SegmentHeader, Encoding: true, reason: "the header " + err.Error()}
	}
	if err := t.Header.decode(hb); err != nil {
		return nil, err
	}
	if t.Payload, err = decodeSegment(p); err != nil {
		return nil, &ParseError{Segment: SegmentPayload, Encoding: true, Header: &t.Header, reason: "the payload " + err.Error()}
	}
	if t.Signature, err = decodeSegment(s); err != nil {
		return nil, &ParseError{Segment: SegmentSignature, Encoding: true, Header: &t.Header, reason: "the signature " + err.Error()}
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
// Its errors are *ParseError; those about "crit" or a missing alg carry h.
func (h *Header) decode(b []byte) *ParseError {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return malformed(SegmentHeader, "the header is not a JSON object")
	}
	h.params = make([]string, 0, len(m))
	crit := false
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
			// Refused below, whatever its type, once the other parameters
			// are known: the error then does not depend on map order.
			crit = true
			json.Unmarshal(v, &h.Crit)
		}
		if err != nil {
			return malformed(SegmentHeader, "the header parameter %q has the wrong JSON type", name)
		}
	}
	if crit {
		// RFC 7515 §4.1.11: a recipient that does not understand a listed
		// extension must reject the JWS; we understand none.
		e := malformed(SegmentHeader, "the header lists critical extensions %s, which are not understood (RFC 7515 section 4.1.11)", clipList(h.Crit))
		e.Header = h
		return e
	}
	if h.Alg == "" {
		e := malformed(SegmentHeader, "the header has no alg")
		e.Header = h
		return e
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
