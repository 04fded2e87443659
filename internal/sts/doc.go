// Package sts is the token service of Portcullis: an Entra ID v2-compatible
// OAuth 2.0 authorization server for the client-credentials grant, served so
// that MSAL, azidentity and golang.org/x/oauth2 work against it unchanged
// (docs/token-service.md is the wire contract).
//
// [Server] serves per tenant the OpenID discovery document, the JWKS and the
// token endpoint. Requests are answered from an immutable directory snapshot
// and the unsealed signing keys installed by [Server.Apply]; issuing a token
// writes nothing to the database.
//
// A token request runs in named phases, each testable alone; the handler
// only sequences them:
//
//  1. parse: the form body and the Authorization header;
//  2. [Server.AuthenticateClient]: a client secret (HTTP Basic or form
//     body), a certificate-signed client assertion (private_key_jwt), a
//     token of an external issuer that a federated identity credential of
//     the application trusts (workload identity federation: the issuer's
//     keys through guard's key sources, cached per node) or a TLS
//     client certificate, with the per-client and per-source failure
//     budgets. It is exported, with [Server.CheckClientSecret] and
//     [Server.CheckClientCertificate], for every surface that accepts an
//     application's credentials, and returns an [AuthenticatedClient];
//  3. authorize: the resource the scope names and the roles granted on it
//     ([Authorization]);
//  4. enrich: the [Enricher] of [Config] (the token-issuance connector's
//     seam) adds claims, never [ReservedClaims], or blocks with an
//     [EnrichmentError];
//  5. [Issuer.Issue]: Entra's v2.0 app-only claim set, signed RS256 by the
//     tenant's active key.
//
// Bearer tokens are verified only by package guard, never by this
// package: [Server.Key] is guard's in-process key source (the public key a
// tenant publishes now, by issuer and kid, without a lock or an
// allocation), so the vault and the admin API check this service's tokens
// with guard.NewVerifier(guard.VerifierConfig{Keys: srv, ...}) and no HTTP
// hop, and an API in another process uses guard's OIDC key source on the
// same discovery document and JWKS.
//
// Signing keys rotate in stages derived from their times (see
// SigningKey): a new key is published in the JWKS for KeyPrepublish
// before it signs, and a superseded key stays published until every token it
// signed has expired. [Server.RunRotation] rotates on one node of a cluster,
// chosen by a store lease.
//
// Protocol errors are *Error values carrying the AADSTS code, the OAuth
// error and the HTTP status; one function, writeError, renders them in
// Entra's JSON shape. Client assertions are parsed and their signatures
// checked by internal/jws, the one JWS parser (shared with guard): segments
// are strict unpadded base64url (RFC 7515 §2), header names exact, "crit"
// refused; x5c is read for nothing (the certificate is looked up by
// thumbprint among the registered ones). Nothing that unauthenticated
// clients send is kept as text in the failure limiters.
package sts
