// Command portcullis is the single binary of Portcullis: the server
// (`portcullis serve`) and the command-line client for its admin API,
// local certificate creation and token requests.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/buildinfo"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args, writing to stdout and stderr, and
// returns the process exit code: 0 on success, 1 after printing
// "error: …" to stderr.
func run(args []string, stdout, stderr io.Writer) int {
	return runWithInput(args, os.Stdin, stdout, stderr)
}

// runWithInput is run with an explicit standard input (for `--secret -`).
func runWithInput(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintf(stderr, "error: %s\n", cliAdvice(err.Error()))
		return 1
	}
	return 0
}

// newRootCommand builds the whole command tree.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "portcullis",
		Short: "Self-hosted, Entra ID-compatible token service for API-to-API security",
		Long: `Portcullis secures API-to-API calls end to end, self-hosted, in one binary.

Its token service is compatible with Microsoft Entra ID (v2 endpoints,
client-credentials grant): register applications, give them client secrets
or certificates, define app roles on APIs and grant them to clients; clients
written for Entra (MSAL, azidentity, golang.org/x/oauth2) obtain tokens from
Portcullis unchanged.

Its vault keeps secrets, certificates and keys encrypted, versioned and
rotated, behind Key Vault roles, with an Azure Key Vault-compatible API:
see 'portcullis vault', 'secret', 'certificate' and 'key'.

Run the server with 'portcullis serve' (add --dev on a laptop). The other
commands manage it through its admin API; on the machine where
'portcullis serve --dev' runs they find the server and an admin credential in
the data directory (./portcullis-data/admin.json) without any flag. For a
production server set PORTCULLIS_ADDR, PORTCULLIS_CLIENT_ID and
PORTCULLIS_CLIENT_SECRET (see 'portcullis app --help').`,
		Example: `  # start a development server
  portcullis serve --dev

  # register an API with a role, a client with a secret, and grant the role
  portcullis app create orders-api --identifier-uri api://orders
  portcullis app role add orders-api --value Orders.Read
  portcullis app create orders-client
  portcullis app secret add orders-client
  portcullis grant add --client orders-client --resource orders-api --role Orders.Read

  # get a token as the client
  portcullis token get --client-id APPID --secret - --scope api://orders/.default --decode`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.Version = buildinfo.Read().String()
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return fmt.Errorf("%w\nRun '%s --help' for usage", err, cmd.CommandPath())
	})
	root.AddCommand(
		newServeCommand(),
		newRootKeyCommand(),
		newTenantCommand(),
		newAppCommand(),
		newGrantCommand(),
		newAPICommand(),
		newConnectorCommand(),
		newKeysCommand(),
		newCertCommand(),
		newTokenCommand(),
		newVaultCommand(),
		newAuditCommand(),
		newSecretCommand(),
		newCertificateCommand(),
		newKeyCommand(),
		newCACommand(),
		newIdentityAgentCommand(),
		newApplyCommand(),
		newExportCommand(),
		newVersionCommand(),
	)
	addCompletions(root)
	return root
}

// group makes cmd a command that only holds subcommands: without arguments
// it prints its help, with an unknown one it fails naming it.
func group(cmd *cobra.Command) *cobra.Command {
	cmd.SuggestionsMinimumDistance = 2
	cmd.Args = cobra.ArbitraryArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		}
		return fmt.Errorf("%s\nRun '%s --help' for the list of commands", msg, cmd.CommandPath())
	}
	return cmd
}
