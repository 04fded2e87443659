package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/portcullis/portcullis/internal/adminclient"
	"github.com/portcullis/portcullis/internal/oauthclient"
	"github.com/portcullis/portcullis/internal/pki"
)

// maxSecretInput bounds what `--secret -` reads from standard input.
const maxSecretInput = 64 << 10

func newTokenCommand() *cobra.Command {
	cmd := group(&cobra.Command{
		Use:   "token",
		Short: "Get access tokens like a client application would",
		Long: `Request tokens from the token service with the client-credentials grant,
exactly as an application does, to try out registrations and grants.`,
		Example: `  portcullis token get --client-id APPID --secret - --scope api://orders/.default`,
	})
	cmd.AddCommand(newTokenGetCommand())
	return cmd
}

type tokenGetOptions struct {
	serverFlags
	clientID, secret, certFile, password, scope, tenant string
	decode                                              bool
}

func newTokenGetCommand() *cobra.Command {
	var o tokenGetOptions
	cmd := &cobra.Command{
		Use:   "get --client-id ID (--secret S | --cert FILE) --scope SCOPE",
		Short: "Get an access token with a client secret or a certificate",
		Long: `Call the token endpoint ADDR/{tenant}/oauth2/v2.0/token with the
client-credentials grant and print the access token (-o json: the whole
token response).

The client authenticates with a secret (client_secret_post) or a certificate
(a client assertion signed with its private key, as MSAL does):
  --secret S      the secret; '--secret -' reads it from standard input, and
                  without --secret and --cert it is taken from
                  $PORTCULLIS_CLIENT_SECRET. Secrets given on the command line
                  are visible to other local users (ps) and in shell history:
                  prefer stdin or the environment variable.
  --cert FILE     PEM with certificate and private key, or a .pfx with
                  --password.

The client id defaults to $PORTCULLIS_CLIENT_ID and the tenant to
$PORTCULLIS_TENANT or "default". The server address and CA come from --addr,
--ca, the environment or the dev data directory as for other commands; no
admin credential is needed.

--decode also prints the token's header and claims as JSON. They are decoded
only: the signature is NOT verified.`,
		Example: `  # secret from standard input
  echo "$SECRET" | portcullis token get --client-id 0c4d5e6f-… --secret - --scope api://orders/.default

  # certificate, with the decoded claims
  portcullis token get --client-id 0c4d5e6f-… --cert orders-client.pem --scope api://orders/.default --decode

  # use the token
  curl -H "Authorization: Bearer $(portcullis token get --client-id ID --scope api://orders/.default)" https://orders.example.com/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return getToken(cmd, o)
		},
	}
	fl := cmd.Flags()
	o.serverFlags.register(fl)
	fl.Lookup("output").Usage = "output format: table (the access token alone) or json (the whole token response)"
	fl.StringVar(&o.clientID, "client-id", "", "application (client) id (default $"+adminclient.EnvClientID+")")
	fl.StringVar(&o.secret, "secret", "", "client secret, or - to read it from standard input (default $"+adminclient.EnvClientSecret+"); visible in ps when given here")
	fl.StringVar(&o.certFile, "cert", "", "certificate with private key: PEM, or PFX with --password")
	fl.StringVar(&o.password, "password", "", `password of the --cert PFX file ("-" reads it from standard input)`)
	fl.StringVar(&o.scope, "scope", "", "scope to request, e.g. api://orders/.default (required)")
	fl.StringVar(&o.tenant, "tenant", "", `tenant id or name in the token endpoint path (default $`+adminclient.EnvTenant+` or "default")`)
	fl.BoolVar(&o.decode, "decode", false, "also print the decoded token header and claims (signature NOT verified)")
	_ = cmd.MarkFlagRequired("scope")
	return cmd
}

func getToken(cmd *cobra.Command, o tokenGetOptions) error {
	p, err := o.printer(cmd)
	if err != nil {
		return err
	}
	clientID := first(o.clientID, os.Getenv(adminclient.EnvClientID))
	if clientID == "" {
		return fmt.Errorf("--client-id is required (or set %s)", adminclient.EnvClientID)
	}
	cred, err := tokenCredential(cmd, o)
	if err != nil {
		return err
	}
	e, err := adminclient.LoadEndpoint(o.flags())
	if err != nil {
		return err
	}
	hc, err := adminclient.NewHTTPClient(e.CAFile)
	if err != nil {
		return err
	}
	tenant := first(o.tenant, os.Getenv(adminclient.EnvTenant), adminclient.DefaultTenant)
	tok, err := oauthclient.RequestToken(cmd.Context(), hc, e.TokenURL(tenant), clientID, cred, o.scope)
	if err != nil {
		return e.ExplainConnection(err)
	}

	var header, claims json.RawMessage
	if o.decode {
		if header, claims, err = decodeJWT(tok.AccessToken); err != nil {
			return err
		}
	}
	if p.json {
		if !o.decode {
			return p.JSON(tok.Raw)
		}
		return p.JSON(struct {
			Response json.RawMessage `json:"response"`
			Header   json.RawMessage `json:"header"`
			Claims   json.RawMessage `json:"claims"`
		}{tok.Raw, header, claims})
	}
	p.linef("%s", tok.AccessToken)
	if o.decode {
		p.linef("\nHeader (decoded only, signature NOT verified):")
		if err := p.JSON(header); err != nil {
			return err
		}
		p.linef("\nClaims (decoded only, signature NOT verified):")
		return p.JSON(claims)
	}
	return nil
}

// tokenCredential builds the credential from --secret, --cert or the
// environment.
func tokenCredential(cmd *cobra.Command, o tokenGetOptions) (oauthclient.Credential, error) {
	secretGiven := cmd.Flags().Changed("secret")
	switch {
	case secretGiven && o.certFile != "":
		return oauthclient.Credential{}, errors.New("give either --secret or --cert, not both")
	case o.certFile != "":
		data, err := os.ReadFile(o.certFile)
		if err != nil {
			return oauthclient.Credential{}, fmt.Errorf("--cert: %w", err)
		}
		password, err := readPassword(cmd, o.password)
		if err != nil {
			return oauthclient.Credential{}, err
		}
		cert, _, key, err := pki.ParseCertificateAndKey(data, password)
		if err != nil {
			return oauthclient.Credential{}, fmt.Errorf("--cert: %w", pfxOpenError("--password", o.certFile, password, err))
		}
		return oauthclient.CertificateCredential(cert, key)
	case secretGiven && o.secret == "-":
		b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), maxSecretInput+1))
		if err != nil {
			return oauthclient.Credential{}, fmt.Errorf("--secret -: read standard input: %w", err)
		}
		if len(b) > maxSecretInput {
			return oauthclient.Credential{}, errors.New("--secret -: standard input is too long for a client secret")
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return oauthclient.Credential{}, errors.New("--secret -: standard input is empty; pipe the client secret in")
		}
		return oauthclient.SecretCredential(oauthclient.NewSecret(s)), nil
	case secretGiven:
		if o.secret == "" {
			return oauthclient.Credential{}, errors.New("--secret is empty")
		}
		return oauthclient.SecretCredential(oauthclient.NewSecret(o.secret)), nil
	case os.Getenv(adminclient.EnvClientSecret) != "":
		return oauthclient.SecretCredential(oauthclient.NewSecret(os.Getenv(adminclient.EnvClientSecret))), nil
	}
	return oauthclient.Credential{}, fmt.Errorf("no client credential: give --secret S (or --secret - to read it from standard input, or set %s) or --cert FILE", adminclient.EnvClientSecret)
}

// decodeJWT returns the header and claims of a compact JWS, indented,
// without verifying anything.
func decodeJWT(token string) (header, claims json.RawMessage, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("--decode: the access token is not a JWT (want three dot-separated parts)")
	}
	dec := func(what, s string) (json.RawMessage, error) {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return nil, fmt.Errorf("--decode: token %s is not base64url: %w", what, err)
		}
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			return nil, fmt.Errorf("--decode: token %s is not JSON: %w", what, err)
		}
		return out.Bytes(), nil
	}
	if header, err = dec("header", parts[0]); err != nil {
		return nil, nil, err
	}
	if claims, err = dec("claims", parts[1]); err != nil {
		return nil, nil, err
	}
	return header, claims, nil
}

// first returns the first non-empty string.
func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
