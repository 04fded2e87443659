package vault

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits, as Key Vault enforces them.
const (
	// MaxSecretValueBytes is the largest secret value (25 KiB).
	MaxSecretValueBytes = 25600
	// MaxTags is the number of tags an object version may carry.
	MaxTags = 15
	// MaxTagKeyLength and MaxTagValueLength bound tag keys and values, in characters.
	MaxTagKeyLength   = 512
	MaxTagValueLength = 256
	// MaxContentTypeLength bounds a secret's content type, in characters.
	MaxContentTypeLength = 255
	// MinRetentionDays, MaxRetentionDays and DefaultRetentionDays bound a vault's soft-delete retention.
	MinRetentionDays     = 7
	MaxRetentionDays     = 90
	DefaultRetentionDays = 90
	// DefaultVault is the vault that always exists.
	DefaultVault = "default"
)

// ValidateName checks an object name against Key Vault's rule: 1 to 127
// characters, each an ASCII letter, digit or dash.
func ValidateName(name string) error {
	if name == "" || len(name) > 127 {
		return nameError(name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return nameError(name)
		}
	}
	return nil
}

func nameError(name string) *Error {
	shown := name
	if len(shown) > 140 || !utf8.ValidString(shown) {
		shown = strings.ToValidUTF8(shown[:min(len(shown), 140)], "?") + "…"
	}
	return badRequest("The request URI contains an invalid name: %q. Object names must be 1-127 characters long and contain only 0-9, a-z, A-Z, and -.", shown)
}

// ValidateVaultName checks a vault name: 3 to 24 characters, letters, digits
// and dashes, starting with a letter, ending with a letter or digit, without
// consecutive dashes (Azure's rule for vault names).
func ValidateVaultName(name string) error {
	ok := len(name) >= 3 && len(name) <= 24
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9':
			ok = i > 0
		case c == '-':
			ok = i > 0 && i < len(name)-1 && name[i-1] != '-'
		default:
			ok = false
		}
	}
	if !ok {
		return badRequest("invalid vault name %q: vault names must be 3-24 characters of letters, digits and dashes, start with a letter, end with a letter or digit, and not contain consecutive dashes", strings.ToValidUTF8(name[:min(len(name), 40)], "?"))
	}
	return nil
}

// validateTags applies Key Vault's tag limits.
func validateTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return badRequest("too many tags: %d; an object may carry at most %d tags", len(tags), MaxTags)
	}
	for k, v := range tags {
		if k == "" {
			return badRequest("tag names must not be empty")
		}
		if n := utf8.RuneCountInString(k); n > MaxTagKeyLength {
			return badRequest("tag name of %d characters is too long: at most %d characters", n, MaxTagKeyLength)
		}
		if n := utf8.RuneCountInString(v); n > MaxTagValueLength {
			return badRequest("value of tag %q has %d characters: at most %d characters", k[:min(len(k), 64)], n, MaxTagValueLength)
		}
		if !printableText(k) || !printableText(v) {
			return badRequest("tag %q: tag names and values must be valid UTF-8 text without control characters", strings.ToValidUTF8(k[:min(len(k), 64)], "?"))
		}
	}
	return nil
}

func validateContentType(ct string) error {
	if n := utf8.RuneCountInString(ct); n > MaxContentTypeLength {
		return badRequest("contentType has %d characters: at most %d", n, MaxContentTypeLength)
	}
	if !printableText(ct) {
		return badRequest("contentType must be valid UTF-8 text without control characters")
	}
	return nil
}

// printableText reports whether s is valid UTF-8 without control
// characters; both databases then store it byte for byte (PostgreSQL text
// refuses NUL and invalid UTF-8).
func printableText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func foldName(name string) string { return strings.ToLower(name) }

func cloneTags(tags map[string]string) map[string]string {
	if tags == nil {
		return nil
	}
	out := make(map[string]string, len(tags))
	for k, v := range tags {
		out[k] = v
	}
	return out
}
