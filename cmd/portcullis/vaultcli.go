package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/oauthclient"
	"github.com/portcullis/portcullis/internal/vaultclient"
)

// maxSecretValueBytes is Key Vault's limit on a secret value (25 KiB).
const maxSecretValueBytes = 25600

// vaultFlags are the persistent flags of the vault, secret, certificate and
// key commands: where the server is, which vault, and the output format.
type vaultFlags struct {
	serverFlags
	vault string
}

func (f *vaultFlags) register(cmd *cobra.Command) {
	fs := cmd.PersistentFlags()
	f.serverFlags.register(fs)
	fs.Lookup("output").Usage = "output format: table or json (json is the server's JSON: Key Vault's field names for secrets, certificates and keys)"
	fs.StringVar(&f.vault, "vault", "default", "name of the vault")
}

// newVaultClient builds a vault client from the same configuration as the
// admin commands: address, CA and the admin credential.
func newVaultClient(f adminclient.Flags) (*vaultclient.Client, error) {
	cfg, err := adminclient.LoadConfig(f)
	if err != nil {
		return nil, err
	}
	hc, err := adminclient.NewHTTPClient(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	return vaultclient.New(vaultclient.Config{
		Addr: cfg.Addr, HTTPClient: hc, TokenURL: cfg.TokenURL(), ClientID: cfg.ClientID,
		Credential: oauthclient.SecretCredential(cfg.ClientSecret), ManagementScope: cfg.Scope,
	})
}

// run checks the output format, connects, then runs fn.
func (f *vaultFlags) run(cmd *cobra.Command, fn func(c *vaultclient.Client, p *printer) error) error {
	p, err := f.printer(cmd)
	if err != nil {
		return err
	}
	c, err := newVaultClient(f.flags())
	if err != nil {
		return err
	}
	return fn(c, p)
}

// vaultEnvHelp is appended to the Long text of the vault command groups.
const vaultEnvHelp = `
Where the server and the credential come from, first match wins:
  server address  --addr, $PORTCULLIS_ADDR, addr in DATA/admin.json
  TLS trust       --ca, $PORTCULLIS_CA, ca in DATA/admin.json, system roots
  credential      $PORTCULLIS_CLIENT_ID + $PORTCULLIS_CLIENT_SECRET, else
                  DATA/admin.json written by 'portcullis serve --dev'
DATA is --data, $PORTCULLIS_DATA or ./portcullis-data. The credential's
application needs a Key Vault role on the vault ('portcullis vault role
assign'); the dev server's admin application is Key Vault Administrator of
the default vault, and 'vault create' makes the creator administrator of
the new vault. The token is requested for the resource the vault names in
its 401 challenge, as the Key Vault SDKs do.`

// rawJSON prints a Key Vault answer exactly as the server sent it
// (indented).
func (p *printer) rawJSON(raw json.RawMessage) error {
	return p.JSON(raw)
}

// rawList prints Key Vault list items as {"value":[…]}.
func rawList[T any](p *printer, items []T, raw func(T) json.RawMessage) error {
	out := struct {
		Value []json.RawMessage `json:"value"`
	}{Value: make([]json.RawMessage, 0, len(items))}
	for _, it := range items {
		out.Value = append(out.Value, raw(it))
	}
	return p.JSON(out)
}

// objectName returns the name and version in a Key Vault id.
func objectName(id string) (name, version string) {
	_, name, version, ok := vaultclient.ParseID(id)
	if !ok {
		return id, ""
	}
	return name, version
}

// unixWhen formats a Unix-seconds attribute for tables.
func unixWhen(u *int64) string { return when(vaultclient.Time(u)) }

func enabledText(a *vaultclient.Attributes) string {
	if a.IsEnabled() {
		return "yes"
	}
	return "no"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// tagsText formats tags as "k=v, k2=v2", sorted.
func tagsText(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ", ")
}

// parseTags reads repeated --tag k=v flags.
func parseTags(tags []string) (map[string]string, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		k, v, ok := strings.Cut(t, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--tag %q: use NAME=VALUE, e.g. --tag env=prod", t)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--tag %q: tag %s is given twice", t, k)
		}
		out[k] = v
	}
	return out, nil
}

// parseInstant reads an absolute time: RFC 3339 (2030-01-31T12:00:00Z) or
// a date (2030-01-31, midnight UTC).
func parseInstant(flag, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%s %q: use an RFC 3339 time (2030-01-31T12:00:00Z) or a date (2030-01-31)", flag, s)
}

// parseExpiry reads --expires: a validity from now (90d, 26w, 1y, 720h) or
// an absolute time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if t, err := parseInstant("--expires", s); err == nil {
		return t, nil
	}
	secs, err := parseExpires(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--expires %q: use a validity from now (90d, 26w, 1y, 720h) or a time (2030-01-31T12:00:00Z, 2030-01-31)", s)
	}
	return now.Add(time.Duration(secs) * time.Second).UTC(), nil
}

// dateAttributes builds the attributes of --not-before and --expires.
func dateAttributes(cmd *cobra.Command, notBefore, expires string, now time.Time) (*vaultclient.Attributes, error) {
	var a vaultclient.Attributes
	set := false
	if cmd.Flags().Changed("not-before") {
		t, err := parseInstant("--not-before", notBefore)
		if err != nil {
			return nil, err
		}
		a.NotBefore, set = vaultclient.Unix(t), true
	}
	if cmd.Flags().Changed("expires") {
		t, err := parseExpiry(expires, now)
		if err != nil {
			return nil, err
		}
		a.Expires, set = vaultclient.Unix(t), true
	}
	if a.NotBefore != nil && a.Expires != nil && *a.Expires <= *a.NotBefore {
		return nil, errors.New("--expires must be after --not-before")
	}
	if !set {
		return nil, nil
	}
	return &a, nil
}

// readSecretValue returns the value of `secret set`: --value V, --value -
// (standard input, one trailing newline removed) or --file F (exactly the
// file's bytes; "-" is standard input as is).
func readSecretValue(cmd *cobra.Command, value, file string) (string, error) {
	hasValue, hasFile := cmd.Flags().Changed("value"), cmd.Flags().Changed("file")
	var data []byte
	switch {
	case hasValue && hasFile:
		return "", errors.New("give the value with either --value or --file, not both")
	case !hasValue && !hasFile:
		return "", errors.New("no value: give --value VALUE, --value - (read standard input) or --file FILE")
	case hasValue && value == "-":
		b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxSecretValueBytes+2))
		if err != nil {
			return "", fmt.Errorf("read the value from standard input: %w", err)
		}
		b = []byte(strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"))
		data = b
	case hasValue:
		data = []byte(value)
	case file == "-":
		b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxSecretValueBytes+1))
		if err != nil {
			return "", fmt.Errorf("read the value from standard input: %w", err)
		}
		data = b
	default:
		st, err := os.Stat(file)
		if err != nil {
			return "", fmt.Errorf("--file: %w", err)
		}
		if st.Size() > maxSecretValueBytes {
			return "", fmt.Errorf("--file %s is %d bytes; a secret value may be at most %d bytes (25 KiB)", file, st.Size(), maxSecretValueBytes)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--file: %w", err)
		}
		data = b
	}
	if len(data) > maxSecretValueBytes {
		return "", fmt.Errorf("the value is more than %d bytes (25 KiB), Key Vault's limit for a secret", maxSecretValueBytes)
	}
	if !utf8.Valid(data) {
		return "", errors.New("the value is not UTF-8 text; store binary data base64-encoded (e.g. base64 -w0 FILE | portcullis secret set NAME --value -) with --content-type application/octet-stream;base64")
	}
	return string(data), nil
}

// readLimited reads at most max bytes from r, failing beyond.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("more than %d bytes", max)
	}
	return b, nil
}

// deletedHint says how long a deleted object stays recoverable and how.
func deletedHint(p *printer, kind, name string, d vaultclient.Deletion) {
	if d.ScheduledPurgeDate != nil {
		p.linef("deleted %s %s; it can be recovered until %s with 'portcullis %s recover %s', or removed at once with 'portcullis %s purge %s'",
			kind, name, unixWhen(d.ScheduledPurgeDate), kind, name, kind, name)
		return
	}
	p.linef("deleted %s %s", kind, name)
}
