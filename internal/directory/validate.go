package directory

import (
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits of the directory objects. They are part of the admin API's
// contract and are enforced by the Service, which names the field and the
// limit in its refusal.
const (
	MaxTenantName          = 64
	MaxDisplayName         = 120
	MaxIdentifierURI       = 255
	MaxIdentifierURIs      = 20
	MaxRoleValue           = 120
	MaxDescription         = 1024
	MaxAppRoles            = 250
	MaxPasswordCredentials = 20
	MaxKeyCredentials      = 20

	minAccessTokenLifetimeSeconds = 300
	maxAccessTokenLifetimeSeconds = 86400

	minSecretLifetime     = time.Hour
	maxSecretLifetime     = 2 * 365 * 24 * time.Hour
	defaultSecretLifetime = 180 * 24 * time.Hour
)

// validateTenantName checks a new tenant's name.
func validateTenantName(name string) error {
	if name == "" {
		return invalid("field \"name\" is required: 1 to %d letters, digits, '.', '-' or '_'", MaxTenantName)
	}
	if n := utf8.RuneCountInString(name); n > MaxTenantName {
		return invalid("field \"name\" is %d characters long; use at most %d", n, MaxTenantName)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return invalid("field \"name\" contains %q; use only letters a-z, digits, '.', '-' and '_'", c)
		}
	}
	// "." and ".." cannot appear as a URL path segment: clients and servers
	// collapse them, so such a tenant could never be addressed.
	if name == "." || name == ".." {
		return invalid("field \"name\" %q is reserved (it cannot be used in a URL path); choose a name such as \"contoso\"", name)
	}
	// A tenant is addressed by id or by name; a name that parses as a GUID
	// could be mistaken for another tenant's id.
	if _, err := uuid.Parse(name); err == nil {
		return invalid("field \"name\" %q has the form of a GUID, which is reserved for tenant ids; choose a name such as \"contoso\"", name)
	}
	return nil
}

// normalizeDisplayName trims and checks a display name.
func normalizeDisplayName(field, name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", invalid("field %q is required and must not be blank: 1 to %d characters", field, MaxDisplayName)
	}
	if n := utf8.RuneCountInString(name); n > MaxDisplayName {
		return "", invalid("field %q is %d characters long; use at most %d", field, n, MaxDisplayName)
	}
	if err := checkText(field, name); err != nil {
		return "", err
	}
	return name, nil
}

// normalizeDescription trims and checks an optional description.
func normalizeDescription(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	if n := utf8.RuneCountInString(s); n > MaxDescription {
		return "", invalid("field %q is %d characters long; use at most %d", field, n, MaxDescription)
	}
	if err := checkText(field, s); err != nil {
		return "", err
	}
	return s, nil
}

// checkText refuses invalid UTF-8 and control characters (other than tab).
func checkText(field, s string) error {
	if !utf8.ValidString(s) {
		return invalid("field %q is not valid UTF-8", field)
	}
	for _, c := range s {
		if unicode.IsControl(c) && c != '\t' {
			return invalid("field %q contains the control character %U; remove it", field, c)
		}
	}
	return nil
}

// validateIdentifierURIs checks a list of identifier URIs and returns it
// without duplicates (compared case-insensitively, which is an error).
func validateIdentifierURIs(uris []string) error {
	if len(uris) > MaxIdentifierURIs {
		return invalid("field \"identifierUris\" has %d entries; an application may have at most %d", len(uris), MaxIdentifierURIs)
	}
	seen := make(map[string]bool, len(uris))
	for i, u := range uris {
		if err := validateIdentifierURI(i, u); err != nil {
			return err
		}
		k := strings.ToLower(u)
		if seen[k] {
			return invalid("field \"identifierUris\" lists %q twice (identifier URIs compare case-insensitively); remove the duplicate", u)
		}
		seen[k] = true
	}
	return nil
}

func validateIdentifierURI(i int, u string) error {
	field := "identifierUris[" + strconv.Itoa(i) + "]"
	if u == "" {
		return invalid("field %q is empty; give an absolute URI such as api://orders", field)
	}
	if len(u) > MaxIdentifierURI {
		return invalid("field %q is %d characters long; use at most %d", field, len(u), MaxIdentifierURI)
	}
	for _, c := range u {
		if unicode.IsSpace(c) || unicode.IsControl(c) {
			return invalid("field %q %q contains whitespace or a control character; remove it", field, u)
		}
	}
	if !utf8.ValidString(u) {
		return invalid("field %q is not valid UTF-8", field)
	}
	if strings.Contains(u, "#") {
		return invalid("field %q %q has a fragment (#…); identifier URIs must not have one", field, u)
	}
	if strings.Contains(u, "?") {
		return invalid("field %q %q has a query (?…); identifier URIs must not have one", field, u)
	}
	if strings.HasSuffix(strings.ToLower(u), "/.default") {
		return invalid("field %q %q ends with \"/.default\", which clients append to form a scope; register the URI without it", field, u)
	}
	parsed, err := url.Parse(u)
	if err != nil || parsed.Scheme == "" {
		return invalid("field %q %q is not an absolute URI with a scheme; use a form such as api://orders or https://orders.example.com", field, u)
	}
	if parsed.Host == "" && parsed.Opaque == "" && strings.Trim(parsed.Path, "/") == "" {
		return invalid("field %q %q has nothing after its scheme; use a form such as api://orders", field, u)
	}
	return nil
}

// validateAccessTokenLifetime checks accessTokenLifetimeSeconds.
func validateAccessTokenLifetime(seconds int64) (time.Duration, error) {
	if seconds < minAccessTokenLifetimeSeconds || seconds > maxAccessTokenLifetimeSeconds {
		return 0, invalid("field \"accessTokenLifetimeSeconds\" is %d; give a value from %d (5 minutes) to %d (24 hours)", seconds, minAccessTokenLifetimeSeconds, maxAccessTokenLifetimeSeconds)
	}
	return time.Duration(seconds) * time.Second, nil
}

// validateRoleValue checks an app role value: what appears in the roles
// claim of tokens.
func validateRoleValue(v string) error {
	if v == "" {
		return invalid("field \"value\" is required: 1 to %d printable ASCII characters without spaces, e.g. \"Orders.Read\"", MaxRoleValue)
	}
	if len(v) > MaxRoleValue {
		return invalid("field \"value\" is %d characters long; use at most %d", len(v), MaxRoleValue)
	}
	for _, c := range v {
		if c == ' ' {
			return invalid("field \"value\" %q contains a space; use e.g. \"Orders.Read\"", v)
		}
		if c < 0x21 || c > 0x7e {
			return invalid("field \"value\" contains %q; use only printable ASCII characters without spaces", c)
		}
	}
	if strings.HasPrefix(v, ".") {
		return invalid("field \"value\" %q starts with '.'; start it with a letter or digit", v)
	}
	return nil
}

// validateSecretLifetime checks expiresInSeconds of a new client secret.
func validateSecretLifetime(seconds *int64) (time.Duration, error) {
	if seconds == nil {
		return defaultSecretLifetime, nil
	}
	min, max := int64(minSecretLifetime/time.Second), int64(maxSecretLifetime/time.Second)
	if *seconds < min || *seconds > max {
		return 0, invalid("field \"expiresInSeconds\" is %d; give a value from %d (1 hour) to %d (2 years), or leave it out for 180 days", *seconds, min, max)
	}
	return time.Duration(*seconds) * time.Second, nil
}
