package main

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/portcullis/portcullis/internal/outbound"
)

// credentialFlags are the flags of an outbound credential: a connector's
// (--auth, --username, …) and an API's backend's (the same names
// prefixed: --backend-auth, --backend-username, …).
type credentialFlags struct {
	prefix string

	auth              string
	username          string
	password          string
	header            string
	key               string
	token             string
	tokenAuthority    string
	tokenEndpoint     string
	clientID          string
	clientSecret      string
	clientCertificate string
	scope             string
	certificate       string
}

// register adds the flags, their names prefixed with prefix ("" or
// "backend-").
func (f *credentialFlags) register(fs *pflag.FlagSet, prefix string) {
	f.prefix = prefix
	n := func(s string) string { return prefix + s }
	tok := "--" + n("token-authority")
	fs.StringVar(&f.auth, n("auth"), "", "how Portcullis authenticates: none, basic, apiKeyHeader, bearer or clientCertificate (changing it drops the old type's settings)")
	fs.StringVar(&f.username, n("username"), "", "basic: the user name")
	fs.StringVar(&f.password, n("password"), "", "basic: vault://VAULT/secrets/NAME holding the password")
	fs.StringVar(&f.header, n("header"), "", "apiKeyHeader: the header that carries the key, e.g. x-functions-key")
	fs.StringVar(&f.key, n("key"), "", "apiKeyHeader: vault://VAULT/secrets/NAME holding the key")
	fs.StringVar(&f.token, n("token"), "", "bearer: vault://VAULT/secrets/NAME holding a static token")
	fs.StringVar(&f.tokenAuthority, n("token-authority"), "", "bearer by client credentials: the authority, e.g. https://login.microsoftonline.com/TENANT-ID (token endpoint: AUTHORITY/oauth2/v2.0/token)")
	fs.StringVar(&f.tokenEndpoint, n("token-endpoint"), "", "bearer by client credentials: the token endpoint itself (instead of "+tok+")")
	fs.StringVar(&f.clientID, n("client-id"), "", "bearer by client credentials: the client (application) id")
	fs.StringVar(&f.clientSecret, n("client-secret"), "", "bearer by client credentials: vault://VAULT/secrets/NAME holding the client secret")
	fs.StringVar(&f.clientCertificate, n("client-certificate"), "", "bearer by client credentials: vault://VAULT/certificates/NAME, sent as a signed client assertion (instead of --"+n("client-secret")+")")
	fs.StringVar(&f.scope, n("scope"), "", "bearer by client credentials: what the token is for, e.g. api://hr/.default")
	fs.StringVar(&f.certificate, n("certificate"), "", "clientCertificate: vault://VAULT/certificates/NAME presented in the TLS handshake")
}

// changed reports whether any credential flag was given.
func (f *credentialFlags) changed(fs *pflag.FlagSet) bool {
	for _, n := range []string{"auth", "username", "password", "header", "key", "token", "token-authority", "token-endpoint", "client-id", "client-secret", "client-certificate", "scope", "certificate"} {
		if fs.Changed(f.prefix + n) {
			return true
		}
	}
	return false
}

// apply changes a by the flags set in fs.
func (f *credentialFlags) apply(fs *pflag.FlagSet, a *outbound.CredentialSpec) error {
	set := func(n string) bool { return fs.Changed(f.prefix + n) }
	flag := func(n string) string { return "--" + f.prefix + n }
	if set("auth") && f.auth != a.Type {
		*a = outbound.CredentialSpec{Type: f.auth}
	}
	for _, s := range []struct {
		flag string
		v    string
		dst  *string
	}{
		{"username", f.username, &a.Username}, {"password", f.password, &a.Password},
		{"header", f.header, &a.Header}, {"key", f.key, &a.Key}, {"certificate", f.certificate, &a.Certificate},
	} {
		if set(s.flag) {
			*s.dst = s.v
		}
	}
	cc := []string{"token-authority", "token-endpoint", "client-id", "client-secret", "client-certificate", "scope"}
	ccSet := false
	for _, n := range cc {
		ccSet = ccSet || set(n)
	}
	switch {
	case set("token") && ccSet:
		return fmt.Errorf("%s (a static token) and the client-credentials flags (%s, %s, …) contradict each other; give one", flag("token"), flag("token-authority"), flag("client-id"))
	case set("token"):
		a.Token, a.ClientCredentials = f.token, nil
	case ccSet:
		s := outbound.ClientCredentialsSpec{}
		if a.ClientCredentials != nil {
			s = *a.ClientCredentials
		}
		for _, p := range [][2]string{{"token-authority", "token-endpoint"}, {"client-secret", "client-certificate"}} {
			if set(p[0]) && set(p[1]) {
				return fmt.Errorf("%s and %s are alternatives; give one", flag(p[0]), flag(p[1]))
			}
		}
		if set("token-authority") {
			s.Authority, s.TokenEndpoint = f.tokenAuthority, ""
		}
		if set("token-endpoint") {
			s.Authority, s.TokenEndpoint = "", f.tokenEndpoint
		}
		if set("client-id") {
			s.ClientID = f.clientID
		}
		if set("client-secret") {
			s.ClientSecret, s.ClientCertificate = f.clientSecret, ""
		}
		if set("client-certificate") {
			s.ClientSecret, s.ClientCertificate = "", f.clientCertificate
		}
		if set("scope") {
			s.Scope = f.scope
		}
		a.Token, a.ClientCredentials = "", &s
	}
	return nil
}
