package vaultclient

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Challenge is the Bearer challenge of a 401 answer (RFC 6750 section 3) as
// Key Vault sends it: the authority that issues tokens and the resource or
// scope to request them for.
type Challenge struct {
	// Authorization is the authority URL (authorization or
	// authorization_uri), e.g. https://HOST/{tenantId}; may be empty.
	Authorization string
	// Resource is the resource parameter; Scope the scope parameter.
	Resource string
	Scope    string
}

// TokenScope returns the scope to request a token for: the challenge's
// scope, else its resource with "/.default" appended.
func (c Challenge) TokenScope() string {
	if c.Scope != "" {
		return c.Scope
	}
	r := strings.TrimRight(c.Resource, "/")
	if r == "" || strings.HasSuffix(r, "/.default") {
		return r
	}
	return r + "/.default"
}

// maxChallengeLength bounds the header value ParseChallenge reads.
const maxChallengeLength = 8 << 10

// ParseChallenge reads the Bearer challenge of a WWW-Authenticate header
// value. Other schemes in the same value are skipped. It fails when there is
// no Bearer challenge or it names neither a resource nor a scope.
func ParseChallenge(header string) (Challenge, error) {
	if len(header) > maxChallengeLength {
		return Challenge{}, errors.New("WWW-Authenticate header is too long")
	}
	var ch Challenge
	found := false
	p := &paramParser{s: header}
	for !p.done() {
		scheme := p.token()
		if scheme == "" {
			return Challenge{}, fmt.Errorf("WWW-Authenticate %q: expected an authentication scheme at offset %d", clip(header), p.i)
		}
		params, err := p.params()
		if err != nil {
			return Challenge{}, fmt.Errorf("WWW-Authenticate %q: %w", clip(header), err)
		}
		if !strings.EqualFold(scheme, "Bearer") || found {
			continue
		}
		found = true
		for k, v := range params {
			switch strings.ToLower(k) {
			case "authorization", "authorization_uri":
				if ch.Authorization == "" {
					ch.Authorization = v
				}
			case "resource", "resource_id":
				if ch.Resource == "" {
					ch.Resource = v
				}
			case "scope":
				ch.Scope = v
			}
		}
	}
	if !found {
		return Challenge{}, fmt.Errorf("WWW-Authenticate %q has no Bearer challenge", clip(header))
	}
	if ch.TokenScope() == "" {
		return Challenge{}, fmt.Errorf("the Bearer challenge %q names no resource or scope to request a token for", clip(header))
	}
	return ch, nil
}

// paramParser reads "scheme k=v, k="quoted", scheme2 …" (RFC 9110 section
// 11.6.1), leniently: whitespace and commas between elements are skipped.
type paramParser struct {
	s string
	i int
}

func (p *paramParser) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == ',') {
		p.i++
	}
}

func (p *paramParser) done() bool {
	p.skip()
	return p.i >= len(p.s)
}

func isTokenChar(c byte) bool {
	return c > 0x20 && c < 0x7f && !strings.ContainsRune("\"(),/:;<=>?@[\\]{}", rune(c))
}

// token reads a token (after skipping separators); "" if there is none.
func (p *paramParser) token() string {
	p.skip()
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// params reads the auth-params that follow a scheme, up to the next scheme
// (a token not followed by "=") or the end. Malformed elements are skipped
// up to the next comma.
func (p *paramParser) params() (map[string]string, error) {
	out := map[string]string{}
	for {
		p.skip()
		if p.i >= len(p.s) {
			return out, nil
		}
		save := p.i
		name := p.token()
		if name == "" {
			// Not a token: skip this element.
			for p.i < len(p.s) && p.s[p.i] != ',' {
				p.i++
			}
			continue
		}
		j := p.i
		for j < len(p.s) && (p.s[j] == ' ' || p.s[j] == '\t') {
			j++
		}
		if j >= len(p.s) || p.s[j] != '=' {
			// The next challenge's scheme: leave it to the caller.
			p.i = save
			return out, nil
		}
		p.i = j + 1
		for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
			p.i++
		}
		var val string
		if p.i < len(p.s) && p.s[p.i] == '"' {
			v, err := p.quoted()
			if err != nil {
				return nil, err
			}
			val = v
		} else {
			start := p.i
			for p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != ' ' && p.s[p.i] != '\t' {
				p.i++
			}
			val = p.s[start:p.i]
		}
		if _, dup := out[strings.ToLower(name)]; !dup {
			out[strings.ToLower(name)] = val
		}
	}
}

// quoted reads a quoted-string starting at the opening quote.
func (p *paramParser) quoted() (string, error) {
	start := p.i
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\\' && p.i+1 < len(p.s):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		case c == '"':
			p.i++
			return b.String(), nil
		default:
			b.WriteByte(c)
			p.i++
		}
	}
	return "", fmt.Errorf("unterminated quoted string at offset %d", start)
}

// clip shortens server text for an error message and drops control characters.
func clip(s string) string {
	const max = 200
	if len(s) > max {
		s = s[:max] + "…"
	}
	return sanitize(s)
}

// sanitize strips control characters (C0, DEL and C1, which includes the
// one-byte CSI U+009B) and bidirectional overrides from server text shown on
// a terminal; line feeds stay.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, s)
}
