package main

import (
	"regexp"
	"strings"

	"github.com/portcullis/portcullis/internal/directory"
)

// The admin API's refusals name its own operations ("list them with GET
// /admin/v1/tenants/default/apis"): right for REST callers, a detour for a
// CLI user. cliAdvice rewrites each such piece of advice into the command
// that does the same, and leaves every other text alone.

// restAdvice pairs an admin API operation (a regular expression over the
// message) with the CLI command that does it; in the replacement, $t is
// the tenant (dropped when it is "default"), other $n are groups.
var restAdvice = []struct {
	re  *regexp.Regexp
	cli string
}{
	{regexp.MustCompile(`GET /admin/v1/tenants/([^/\s]+)/applications/([^/\s]+)/appRoles\b`), `'portcullis app role list $2$t'`},
	{regexp.MustCompile(`POST /admin/v1/tenants/([^/\s]+)/applications/([^/\s]+)/appRoles\b`), `'portcullis app role add $2 --value VALUE$t'`},
	{regexp.MustCompile(`GET /admin/v1/tenants/([^/\s]+)/applications/([^/\s]+)/passwordCredentials\b`), `'portcullis app secret list $2$t'`},
	{regexp.MustCompile(`GET /admin/v1/tenants/([^/\s]+)/applications/([^/\s]+)/keyCredentials\b`), `'portcullis app cert list $2$t'`},
	{regexp.MustCompile(`GET /admin/v1/tenants/([^/\s]+)/applications/([^/\s]+)/federatedIdentityCredentials\b`), `'portcullis app federated list $2$t'`},
	{regexp.MustCompile(`POST /admin/v1/tenants/([^/\s]+)/applications/([^/\s]+)/federatedIdentityCredentials\b`), `'portcullis app federated add $2 --name NAME --issuer URL --subject SUBJECT$t'`},
	{regexp.MustCompile(`GET /admin/v1/tenants/([^/\s]+)/applications\b`), `'portcullis app list$t'`},
	{regexp.MustCompile(`DELETE /admin/v1/tenants/([^/\s]+)/grants/\{id\}`), `'portcullis grant remove ID$t'`},
	{regexp.MustCompile(`GET /admin/v1/tenants/([^/\s]+)/grants\b`), `'portcullis grant list$t'`},
	{regexp.MustCompile(`POST /admin/v1/tenants/\{tenant\}/grants\b`), `'portcullis grant add --client APP --resource ` + directory.ManagementIdentifierURI + ` --role Portcullis.Admin'`},
	{regexp.MustCompile(`PUT /admin/v1/tenants/([^/\s]+)/apis/([^/\s)]+)`), `'portcullis api update $2$t'`},
	{regexp.MustCompile(`GET /admin/v1/tenants/([^/\s]+)/apis\b`), `'portcullis api list$t'`},
	// Detaching is a flag, not the bare update the generic rule below gives.
	{regexp.MustCompile(`detach it [^()]*first \(PUT /admin/v1/tenants/([^/\s]+)/connectors/([^/\s)]+)\)`),
		`detach it from connector $2 first ('portcullis connector update $2 --detach$t' detaches every application; --attach-resource and --attach-client replace the lists with the ones to keep)`},
	{regexp.MustCompile(`PUT /admin/v1/tenants/([^/\s]+)/connectors/([^/\s)]+)`), `'portcullis connector update $2$t'`},
	{regexp.MustCompile(`GET /admin/v1/tenants/([^/\s]+)/connectors\b`), `'portcullis connector list$t'`},
	{regexp.MustCompile(`POST /admin/v1/tenants/([^/\s]+)/signingKeys/rotate\b`), `'portcullis keys rotate$t'`},
	{regexp.MustCompile(`POST /admin/v1/vaults/([^/\s]+)/roleAssignments\b`), `'portcullis vault role assign --vault $1 --app APP --role ROLE'`},
	{regexp.MustCompile(`GET /admin/v1/tenants\b`), `'portcullis tenant list'`},
}

// cliAdvice returns msg with every admin API operation it recommends
// replaced by the equivalent CLI command.
func cliAdvice(msg string) string {
	if !strings.Contains(msg, "/admin/v1/") {
		return msg
	}
	for _, a := range restAdvice {
		msg = a.re.ReplaceAllStringFunc(msg, func(m string) string {
			groups := a.re.FindStringSubmatch(m)
			out := a.cli
			tenant := ""
			if len(groups) > 1 && !strings.HasPrefix(a.re.String(), `POST /admin/v1/vaults`) {
				if t := groups[1]; !strings.EqualFold(t, "default") {
					tenant = " --tenant " + t
				}
			}
			// One pass: text from the server inserted for $1 is not expanded again.
			pairs := []string{"$t", tenant}
			for i := 1; i < len(groups); i++ {
				pairs = append(pairs, "$"+string(rune('0'+i)), groups[i])
			}
			return strings.NewReplacer(pairs...).Replace(out)
		})
	}
	return msg
}

// The admin API names an API's fields as its JSON does ("add the issuing CA
// to trustedCAs"); apiFieldFlags names, after the first mention of each
// field, the flag of 'api create' and 'api update' that sets it.
var apiFieldFlags = []struct {
	re   *regexp.Regexp
	flag string
}{
	{regexp.MustCompile(`\bbackend\.allowInsecureAuth\b`), "--backend-allow-insecure-auth"},
	{regexp.MustCompile(`(?:^|[^.\w])allowInsecureAuth\b`), "--allow-insecure-auth"},
	{regexp.MustCompile(`\btrustedCAs\b`), "--client-ca"},
	{regexp.MustCompile(`\bcaCertificates\b`), "--backend-ca"},
	{regexp.MustCompile(`\bpinnedThumbprints\b`), "--backend-pin"},
	{regexp.MustCompile(`\bskipChainValidation\b`), "--backend-skip-chain-validation"},
	{regexp.MustCompile(`\bpins\b`), "--client-cert-thumbprint, --client-cert-subject"},
	{regexp.MustCompile(`\brevocation\.crls\b`), "--crl"},
	{regexp.MustCompile(`\bcrlMode\b`), "--crl-mode"},
	{regexp.MustCompile(`\baudiences\b`), "--audience"},
	{regexp.MustCompile(`\bprincipalHeaders\b`), "--principal-header"},
}

// withFlagNames returns msg with the flag of each API field it names
// added, in parentheses, after the first mention of the field: after the
// whole path it is part of (policy.methods[0].pins[1],
// "principalHeaders.X-Foo"), closing quote included.
func withFlagNames(msg string) string {
	for _, f := range apiFieldFlags {
		loc := f.re.FindStringIndex(msg)
		if loc == nil || strings.Contains(msg, f.flag) {
			continue
		}
		// The path the field is part of runs from start to end; a quoted path keeps its closing quote.
		start, end := loc[1], loc[1]
		for start > 0 && strings.IndexByte(pathChars, msg[start-1]) >= 0 {
			start--
		}
		for end < len(msg) && strings.IndexByte(pathChars, msg[end]) >= 0 {
			end++
		}
		if start > 0 && msg[start-1] == '"' && end < len(msg) && msg[end] == '"' {
			end++
		}
		msg = msg[:end] + " (" + f.flag + ")" + msg[end:]
	}
	return msg
}

// pathChars are the bytes of a field path after a field's name: more
// names, indexes and map keys (principalHeaders.X-Foo).
const pathChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.[]-"

// flagNamedError is an admin API refusal of an API, printed with the flags
// of the fields it names.
type flagNamedError struct{ err error }

func (e flagNamedError) Error() string { return withFlagNames(e.err.Error()) }
func (e flagNamedError) Unwrap() error { return e.err }
