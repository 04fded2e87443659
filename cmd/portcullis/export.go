package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/declarative"
)

const exportHeader = `# Portcullis configuration, written by 'portcullis export'.
# Apply it with: portcullis apply -f THIS-FILE (format: docs/apply.md).
# It holds no secret: client secrets are written to their saveTo file when
# apply creates them; vault secret values come from the environment
# variables named by fromEnv; certificate files must be put where
# certificateFile and fromFile say.
`

func newExportCommand() *cobra.Command {
	var (
		f      serverFlags
		out    string
		tenant string
		format string
	)
	cmd := &cobra.Command{
		Use:   "export [-o FILE] [--tenant T]",
		Short: "Write the server's configuration in the format of 'portcullis apply'",
		Long: `Write the current configuration (tenants, applications, app roles,
credentials, grants, gateway APIs, connectors, vaults, vault role
assignments and vault objects) as a file 'portcullis apply -f' reads, so that
applying it to an empty server reproduces this one and applying it here
changes nothing.

No secret value is written: client secrets appear as a description with the
saveTo file where apply writes a new secret when it has to create one; vault
secrets as {fromEnv: PORTCULLIS_SECRET_VAULT_NAME}; certificates as the file
apply will read (certs/…, with the thumbprint to check it); vault keys by
type and size (apply elsewhere creates a new key of that kind).

With --tenant only that tenant is written, without vaults (vaults belong
to the whole server).` + adminEnvHelp,
		Example: `  # the whole configuration as YAML on standard output
  portcullis export

  # one tenant into a file, as JSON
  portcullis export --tenant contoso -o contoso.json

  # round trip: export, then apply to another server
  portcullis export -o portcullis.yaml
  portcullis apply -f portcullis.yaml --addr https://new.example.com:8443 --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch format = strings.ToLower(format); {
			case format == "" && strings.HasSuffix(strings.ToLower(out), ".json"):
				format = "json"
			case format == "":
				format = "yaml"
			case format != "yaml" && format != "json":
				return fmt.Errorf("--format %q: use yaml or json", format)
			}
			clients, _, err := declarativeClients(&f)
			if err != nil {
				return err
			}
			state, err := declarative.Read(cmd.Context(), clients.Admin, clients.Vaults, declarative.ReadOptions{Tenant: tenant})
			if err != nil {
				return fmt.Errorf("read the server's configuration: %w", err)
			}
			doc := declarative.Export(state)
			var data []byte
			if format == "json" {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(doc); err != nil {
					return err
				}
				data = buf.Bytes()
			} else {
				y, err := declarative.MarshalYAML(doc)
				if err != nil {
					return err
				}
				data = append([]byte(exportHeader), y...)
			}
			if out == "" || out == "-" {
				_, err := cmd.OutOrStdout().Write(data)
				return err
			}
			if err := os.WriteFile(out, data, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", out)
			return nil
		},
	}
	fs := cmd.Flags()
	f.registerLocation(fs)
	fs.StringVarP(&out, "output", "o", "", "file to write (default: standard output)")
	fs.StringVar(&tenant, "tenant", "", "export only this tenant (id or name), without vaults")
	fs.StringVar(&format, "format", "", "yaml or json (default: json for a .json file, else yaml)")
	return cmd
}
