package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/adminclient"
)

// --- federated identity credentials ---

func newAppFederatedCommand(f *adminFlags) *cobra.Command {
	cmd := group(&cobra.Command{
		Use:     "federated",
		Aliases: []string{"fic"},
		Short:   "Manage federated identity credentials (workload identity federation)",
		Long: `A federated identity credential makes APP trust tokens that another issuer
gives a workload — a CI system's OIDC token, a Kubernetes service-account
token — so that the workload holds no secret at all. The workload sends that
token as client_assertion (azidentity's WorkloadIdentityCredential and
ClientAssertionCredential, MSAL's assertion callback do this unchanged) and
gets APP's access token when the token's iss, sub and aud are exactly the
credential's issuer, subject and audience and it is signed with the issuer's
key.

The issuer's keys are read from {issuer}/.well-known/openid-configuration and
its jwks_uri. An issuer without a discovery document (a Kubernetes cluster
whose service-account issuer is private) is configured with --jwks-uri, or
with --keys-file holding its JWK Set. See docs/federation.md.`,
		Example: `  # GitHub Actions, pushes to main of contoso/orders
  portcullis app federated add orders-deploy --name github-main \
      --issuer https://token.actions.githubusercontent.com \
      --subject repo:contoso/orders:ref:refs/heads/main

  # A Kubernetes service account, cluster keys pasted from the cluster
  kubectl get --raw /openid/v1/jwks > cluster-a-jwks.json
  portcullis app federated add orders-api --name cluster-a \
      --issuer https://kubernetes.default.svc.cluster.local \
      --subject system:serviceaccount:orders:api --keys-file cluster-a-jwks.json

  portcullis app federated list orders-api
  portcullis app federated remove orders-api cluster-a`,
	})
	var in adminclient.FederatedIdentityCredential
	var audiences []string
	var keysFile string
	add := &cobra.Command{
		Use:   "add APP --name NAME --issuer URL --subject SUBJECT",
		Short: "Trust an external issuer's tokens for one subject",
		Long: `Add a federated identity credential to APP. A token authenticates APP when
its iss is exactly --issuer (trailing slash included), its sub exactly
--subject (case-sensitive) and its aud contains --audience.

--issuer must be https (http only on a loopback address, for development).
Without --jwks-uri or --keys-file, the keys are read through the issuer's
discovery document. --keys-file reads a JWK Set ({"keys": [...]}) locally and
stores it on the credential; it is never refreshed, so replace the credential
when the issuer rotates its keys. At most 20 credentials per application;
names are unique per application.`,
		Example: `  portcullis app federated add orders-deploy --name github-main \
      --issuer https://token.actions.githubusercontent.com \
      --subject repo:contoso/orders:ref:refs/heads/main
  portcullis app federated add orders-deploy --name github-prod \
      --issuer https://token.actions.githubusercontent.com \
      --subject repo:contoso/orders:environment:production --description "deploys to production"
  portcullis app federated add orders-api --name cluster-a \
      --issuer https://oidc.cluster-a.example.com \
      --subject system:serviceaccount:orders:api
  portcullis app federated add orders-api --name cluster-b \
      --issuer https://kubernetes.default.svc.cluster.local \
      --subject system:serviceaccount:orders:api \
      --jwks-uri https://cluster-b.example.com:6443/openid/v1/jwks
  portcullis app federated add orders-api --name cluster-c \
      --issuer https://kubernetes.default.svc.cluster.local \
      --subject system:serviceaccount:orders:worker --keys-file cluster-c-jwks.json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fc := in
			if cmd.Flags().Changed("audience") && (len(audiences) == 0 || slices.Contains(audiences, "")) {
				return errors.New("--audience is empty: give the aud the issuer's tokens carry, or leave the flag out for the default api://AzureADTokenExchange")
			}
			fc.Audiences = audiences
			if keysFile != "" {
				b, err := os.ReadFile(keysFile)
				if err != nil {
					return fmt.Errorf("--keys-file: %w", err)
				}
				if !json.Valid(b) {
					return fmt.Errorf("--keys-file %s is not JSON: give the issuer's JWK Set, e.g. the output of `kubectl get --raw /openid/v1/jwks`", keysFile)
				}
				fc.Keys = json.RawMessage(b)
			}
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				out, err := c.AddFederatedCredential(cmd.Context(), f.tenant, args[0], fc)
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(out)
				}
				p.linef("added federated identity credential %s on %s", out.Name, args[0])
				return federatedTable(p, []adminclient.FederatedIdentityCredential{out})
			})
		},
	}
	add.Flags().StringVar(&in.Name, "name", "", "name of the credential: 3 to 120 letters, digits, '-' or '_', unique per application (required)")
	add.Flags().StringVar(&in.Issuer, "issuer", "", "the tokens' iss, exactly, e.g. https://token.actions.githubusercontent.com (required)")
	add.Flags().StringVar(&in.Subject, "subject", "", "the tokens' sub, exactly, e.g. repo:ORG/REPO:ref:refs/heads/main or system:serviceaccount:NAMESPACE:NAME (required)")
	add.Flags().StringSliceVar(&audiences, "audience", nil, "the aud the tokens carry (default api://AzureADTokenExchange)")
	add.Flags().StringVar(&in.Description, "description", "", "what the credential is for")
	add.Flags().StringVar(&in.JWKSURI, "jwks-uri", "", "read the issuer's keys from this JWKS URL instead of its discovery document")
	add.Flags().StringVar(&keysFile, "keys-file", "", "store the issuer's JWK Set from this file (for an issuer whose keys cannot be fetched)")
	for _, name := range []string{"name", "issuer", "subject"} {
		add.MarkFlagRequired(name)
	}
	add.MarkFlagsMutuallyExclusive("jwks-uri", "keys-file")

	ls := &cobra.Command{
		Use:     "list APP",
		Short:   "List federated identity credentials",
		Long:    "List the federated identity credentials of APP: name, issuer, subject, audience and where the issuer's keys come from.",
		Example: "  portcullis app federated list orders-api\n  portcullis app federated list orders-api -o json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				fs, err := c.ListFederatedCredentials(cmd.Context(), f.tenant, args[0])
				if err != nil {
					return err
				}
				if p.json {
					return p.JSON(list(fs))
				}
				return federatedTable(p, fs)
			})
		},
	}
	rm := &cobra.Command{
		Use:   "remove APP ID|NAME",
		Short: "Remove a federated identity credential",
		Long:  "Remove a federated identity credential from APP, named by its id or its name (any case). Tokens of that issuer and subject are refused from then on.",
		Example: `  portcullis app federated remove orders-api cluster-a
  portcullis app federated remove orders-api 5d1e2f3a-…`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, func(c *adminclient.Client, p *printer) error {
				if err := c.RemoveFederatedCredential(cmd.Context(), f.tenant, args[0], args[1]); err != nil {
					return err
				}
				if !p.json {
					p.linef("removed federated identity credential %s from %s", args[1], args[0])
				}
				return nil
			})
		},
	}
	cmd.AddCommand(add, ls, rm)
	return cmd
}

func federatedTable(p *printer, fs []adminclient.FederatedIdentityCredential) error {
	rows := make([][]string, 0, len(fs))
	for _, fc := range fs {
		keys := "discovery"
		switch {
		case fc.JWKSURI != "":
			keys = "jwks " + fc.JWKSURI
		case len(fc.Keys) > 0:
			keys = "static keys"
		}
		rows = append(rows, []string{fc.Name, fc.Issuer, fc.Subject, strings.Join(fc.Audiences, ", "), keys, fc.ID})
	}
	return p.table([]string{"NAME", "ISSUER", "SUBJECT", "AUDIENCE", "KEYS", "ID"}, rows)
}
