package pki

import (
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

const subjectAttributes = "CN, O, OU, L, ST (or S), C, STREET, POSTALCODE, SERIALNUMBER"

// ParseSubject parses a distinguished name such as "CN=foo, O=Bar, OU=x,
// C=US" into a pkix.Name; CN is required, attribute names are
// case-insensitive, O, OU, L, ST and STREET may repeat, and values may use
// RFC 4514 escapes (`\,`, `\2C`) or double quotes. Multi-valued RDNs ("+")
// are refused. The certificate encodes the attributes in the canonical
// pkix.Name order, not the order given.
func ParseSubject(dn string) (pkix.Name, error) {
	var name pkix.Name
	parts, err := splitDN(dn)
	if err != nil {
		return name, fmt.Errorf("subject %q: %w", dn, err)
	}
	for i, part := range parts {
		if err := addAttribute(&name, part); err != nil {
			return pkix.Name{}, fmt.Errorf("subject %q, part %d %q: %w", dn, i+1, strings.TrimSpace(part), err)
		}
	}
	if name.CommonName == "" {
		return pkix.Name{}, fmt.Errorf("subject %q: CN is required (e.g. \"CN=my-app\")", dn)
	}
	return name, nil
}

// splitDN splits dn on the commas that are neither escaped nor quoted.
func splitDN(dn string) ([]string, error) {
	if strings.TrimSpace(dn) == "" {
		return nil, errors.New("empty; expected e.g. \"CN=my-app, O=Contoso\"")
	}
	var (
		parts   []string
		start   int
		inQuote bool
	)
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			if i+1 >= len(dn) {
				return nil, errors.New("ends with a lone backslash")
			}
			i++
		case '"':
			inQuote = !inQuote
		case '+':
			if !inQuote {
				return nil, errors.New(`multi-valued RDNs ("+") are not supported; escape a literal plus as \+`)
			}
		case ',':
			if !inQuote {
				parts = append(parts, dn[start:i])
				start = i + 1
			}
		}
	}
	if inQuote {
		return nil, errors.New("unterminated double quote")
	}
	return append(parts, dn[start:]), nil
}

func addAttribute(name *pkix.Name, part string) error {
	k, v, ok := strings.Cut(part, "=")
	if !ok {
		return errors.New("expected ATTRIBUTE=value")
	}
	attr := strings.ToUpper(strings.TrimSpace(k))
	if attr == "" {
		return errors.New("missing attribute name before '='")
	}
	val, err := unescapeDNValue(trimDNValue(v))
	if err != nil {
		return fmt.Errorf("%s: %w", attr, err)
	}
	if val == "" {
		return fmt.Errorf("%s has an empty value", attr)
	}
	switch attr {
	case "CN":
		if name.CommonName != "" {
			return errors.New("CN given more than once")
		}
		name.CommonName = val
	case "SERIALNUMBER":
		if name.SerialNumber != "" {
			return errors.New("SERIALNUMBER given more than once")
		}
		name.SerialNumber = val
	case "O":
		name.Organization = append(name.Organization, val)
	case "OU":
		name.OrganizationalUnit = append(name.OrganizationalUnit, val)
	case "L":
		name.Locality = append(name.Locality, val)
	case "ST", "S":
		name.Province = append(name.Province, val)
	case "STREET":
		name.StreetAddress = append(name.StreetAddress, val)
	case "POSTALCODE":
		name.PostalCode = append(name.PostalCode, val)
	case "C":
		if len(val) != 2 || !isASCIILetters(val) {
			return fmt.Errorf("country (C) must be a two-letter ISO 3166 code such as US, got %q", val)
		}
		name.Country = append(name.Country, strings.ToUpper(val))
	default:
		return fmt.Errorf("unknown attribute %q (supported: %s)", attr, subjectAttributes)
	}
	return nil
}

// trimDNValue trims surrounding spaces but keeps an escaped trailing space.
func trimDNValue(v string) string {
	v = strings.TrimLeft(v, " \t")
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		n := 0
		for j := len(v) - 2; j >= 0 && v[j] == '\\'; j-- {
			n++
		}
		if n%2 == 1 {
			break
		}
		v = v[:len(v)-1]
	}
	return v
}

// unescapeDNValue resolves RFC 4514 section 2.4 escapes and quoting.
func unescapeDNValue(v string) (string, error) {
	if strings.HasPrefix(v, `"`) {
		// An escaped closing quote leaves a lone backslash, refused below.
		if len(v) < 2 || !strings.HasSuffix(v, `"`) {
			return "", errors.New("quoted value must end with a double quote")
		}
		v = v[1 : len(v)-1]
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '"' {
			return "", errors.New(`unescaped double quote inside the value; use \"`)
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(v) {
			return "", errors.New("value ends with a lone backslash")
		}
		if i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]) {
			b.WriteByte(unhex(v[i+1])<<4 | unhex(v[i+2]))
			i += 2
			continue
		}
		b.WriteByte(v[i+1])
		i++
	}
	s := b.String()
	if !utf8.ValidString(s) {
		return "", errors.New("value is not valid UTF-8")
	}
	return s, nil
}

func isASCIILetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f'
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}
