// Package sts is the token service of Portcullis: an Entra ID v2-compatible
// OAuth 2.0 authorization server for the client-credentials grant, served so
// that MSAL, azidentity and golang.org/x/oauth2 work against it unchanged
// (see shared/reference/msal-protocol.md, the wire contract).
//
// [Server] serves per tenant the OpenID discovery document, the JWKS and the
// token endpoint. Clients authenticate with a client secret (HTTP Basic or
// form body) or a certificate-signed client assertion (private_key_jwt);
// tokens are RS256 JWTs carrying Entra's v2.0 app-only claim set, signed by
// the tenant's current signing key. Requests are answered from an immutable
// directory snapshot and the unsealed signing keys installed by
// [Server.Apply]; issuing a token writes nothing to the database.
//
// Signing keys rotate in stages derived from their times (see
// SigningKey): a new key is published in the JWKS for KeyPrepublish
// before it signs, and a superseded key stays published until every token it
// signed has expired. [Server.RunRotation] rotates on one node of a cluster,
// chosen by a store lease. [Server.VerifyAccessToken] checks tokens issued
// here (the admin API uses it).
//
// Protocol errors are *Error values carrying the AADSTS code, the OAuth
// error and the HTTP status; one function, writeError, renders them in
// Entra's JSON shape.
package sts
