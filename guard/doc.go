// Package guard is the one engine for inbound security in Portcullis and
// a library for any Go API that accepts tokens from Portcullis, Entra ID
// or another OpenID Connect issuer.
//
// A request passes through three steps:
//
//  1. Authenticate: Authenticators are tried in order (a Chain); each
//     recognises one kind of credential and answers ErrNoCredentials when
//     the request does not carry it. Bearer verifies a JWT access token
//     with a Verifier; Basic, APIKey and ClientCertificate hand the
//     credential to a checker you supply (PinnedCertificates is one).
//     The result is a Principal: who the caller is, whatever the
//     credential.
//  2. Authorize: Rules say which roles or scopes, tenants, applications,
//     objects, certificates and credential kinds are allowed.
//  3. Serve: Middleware puts the Principal in the request context
//     (PrincipalFrom) and calls your handler.
//
// Refusals are *Error values: an HTTP status, an RFC 6750 error code and a
// description that says which rule failed and what to do, written with
// the WWW-Authenticate challenge by WriteError. They never contain the
// credential.
//
// # Protecting an API
//
// Point an OIDCKeySource at the issuer your callers get tokens from (for
// Portcullis, https://{host}/{tenant id}/v2.0; for Entra ID,
// https://login.microsoftonline.com/{tenant id}/v2.0; exactly the iss of
// the tokens), make a Verifier for your API's audience, and wrap your
// handler:
//
//	keys, err := guard.NewOIDCKeySource(ctx, "https://localhost:8443/2a7f727d-ea4c-4ddb-94cb-4a6e7dea71f6/v2.0", guard.OIDCOptions{})
//	if err != nil { ... }
//	verifier, err := guard.NewVerifier(guard.VerifierConfig{
//		Keys:      keys,
//		Audiences: []string{"api://orders", "6f1c…"}, // the aud your tokens carry
//	})
//	if err != nil { ... }
//	http.Handle("/orders", guard.Middleware(ordersHandler, guard.Policy{
//		Authenticators: []guard.Authenticator{guard.Bearer(verifier)},
//		Rules:          guard.Rules{Roles: []string{"Orders.Read"}},
//		Realm:          "orders",
//	}))
//
// In the handler, guard.PrincipalFrom(r.Context()) returns the caller.
//
// # Stored policies
//
// A PolicySpec is a policy as JSON, the format the Portcullis gateway
// stores per API. CompilePolicy turns it into a Policy, resolving its
// secret, certificate and issuer references with a SpecResolver; secrets
// are then read through SecretRefs on each request, so a rotation needs no
// recompile. A clientCertificate method may also check revocation
// (RevocationSpec: CRLs through CRLSource, which a CRLResolver supplies
// for references and URLs, and OCSP). Policy.Decide is the decision alone (Middleware calls it);
// Policy.Explain records every step of it, without credentials.
// See Example for a complete program, and docs/guard.md in the
// repository for a walk-through.
//
// # What the Verifier checks
//
// A token is at most MaxTokenBytes; it is a compact JWS in strict
// base64url (one spelling per token); its header names an allowed alg
// ("none" and HMAC never) and a kid, and carries no jwk, jku or x5u (keys
// come only from the KeySource; an x5c is ignored); the key is the one
// the issuer publishes now under that kid; the signature verifies; aud
// contains one of your Audiences; exp is present and not past; nbf and
// iat are not in the future; all with a leeway for clock skew (default 1
// minute). Issuers restricts iss further when the KeySource serves more
// than you trust.
//
// Verified tokens are cached by their SHA-256 until their exp. Each cache
// hit asks the KeySource again for the token's key, so a withdrawn key
// stops its tokens as soon as the KeySource no longer returns it.
//
// # Key sources
//
// A KeySource answers "which key does this issuer publish under this kid
// now". OIDCKeySource reads OpenID Connect discovery and the JWKS, refetches
// on an unknown kid (one fetch at a time, at most one per
// MinRefetchInterval, so forged kids cannot make it hammer the issuer),
// refreshes in the background when the set is older than RefreshInterval,
// and keeps the last good keys through an outage. Inside Portcullis the
// token service is the KeySource, with no HTTP hop.
package guard
