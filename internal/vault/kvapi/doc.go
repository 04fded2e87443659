// Package kvapi is the Azure Key Vault-compatible HTTP surface over package
// vault: the REST paths, query parameters, JSON shapes, paging, errors and
// the bearer challenge that the official Key Vault SDK clients (azsecrets,
// azcertificates, azkeys) expect, so that code written for Azure Key Vault
// works against Portcullis with only the vault URL and TLS trust changed.
//
// # Vault URLs
//
// A vault is reachable in two forms on the same listener:
//
//   - Host form, https://{vault}.{base}/ (e.g. https://default.localhost:8443
//     or https://default.vault.example.com with --public-url
//     https://vault.example.com): Azure's own shape. The SDK's challenge
//     resource verification requires the vault host to be a subdomain of
//     the challenge resource's host (port included), so this is the form
//     that works with default SDK options. It needs {vault}.{base} to
//     resolve to Portcullis (a wildcard DNS record; a hosts-file line in
//     development) and a TLS certificate for *.{base} (the --dev
//     certificate covers *.localhost).
//   - Path form, https://{base}/vaults/{vault}: needs no DNS or certificate
//     change, but the SDK's resource verification cannot pass (the host is
//     not a subdomain of itself), so clients set
//     DisableChallengeResourceVerification: true — the one option to set.
//
// Object identifiers (id, kid, sid, recoveryId, target) always use the host
// form, https://{vault}.{base}/secrets/{name}/{version}, because the SDKs
// parse the name and version from the second and third path segments
// (ID.Name(), ID.Version()); a /vaults/{vault} prefix would break them.
// When a path-form request reached an IP address ({vault}.{IP} is no host
// name), identifiers use the first DNS name among Config.BaseHosts (e.g.
// localhost:8443). nextLink URLs use the form of the request so that they
// stay reachable.
//
// # Authentication
//
// A request without a valid bearer token gets 401 with
// WWW-Authenticate: Bearer authorization="{base}/{tenant}", resource="{base}"
// — the SDK sends its first request unauthenticated, reads the tenant from
// the authorization URL's path and asks its credential for
// "{resource}/.default". {base} is --public-url when set, else the
// request's host (without the vault label in host form); the vault resource
// application's identifier URIs must name it (serve's bootstrap does that).
// Callers are admitted by Config.Authenticator, a guard authenticator:
// serve gives it guard.Bearer over a guard.Verifier whose key source is the
// token service in process and whose audience is the vault resource
// application, wrapped by guard.RequireExistingClient. The Verifier's cache
// makes a reused token cost a hash and two lookups instead of an RSA
// verification, yet a retired signing key or a deleted client application
// is refused on the next request. The token's tenant must be the vault's
// (Config.TenantID). Refusals are Key Vault errors with the challenge, and
// each is audited (outcome "refused", with its reason) and logged, paced.
// The caller's roles are checked by vault.Service, over the Principal.
//
// # Main types
//
// Handler (built by New from a Config) serves every Key Vault operation;
// Wrap puts it in front of another handler (the server's mux) because Key
// Vault paths such as /keys/{name}//sign (an empty version) must not be
// cleaned or redirected by http.ServeMux.
package kvapi
