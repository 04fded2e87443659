package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/buildinfo"
)

func newVersionCommand() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, the source revision and the Go version of this binary",
		Long: `Print what the Go toolchain recorded in this binary: the module version
("(devel)" for a build from a checkout), the version-control revision and
its time (with +modified when the checkout had uncommitted changes), and
the Go version. 'go run' and builds with -buildvcs=false record no revision.
'portcullis --version' prints the same line. The server shows it on its
start page (GET /).`,
		Example: `  portcullis version
  portcullis version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			in := buildinfo.Read()
			switch output {
			case "", "text":
				fmt.Fprintln(cmd.OutOrStdout(), in.String())
				return nil
			case "json":
				b, _ := json.MarshalIndent(in, "", "  ")
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
				return nil
			}
			return fmt.Errorf("--output %q: use text or json", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
