// Package oauthclient obtains access tokens with the OAuth 2.0
// client-credentials grant from Portcullis (or any Entra ID v2-compatible
// token endpoint).
//
// A [Credential] is either a client secret ([SecretCredential], sent as
// client_secret_post) or a certificate with its private key
// ([CertificateCredential], sent as a private_key_jwt client assertion built
// like MSAL Go builds it: PS256 for RSA keys, an "x5t#S256" header,
// aud = token endpoint, iss = sub = client id, a random jti, nbf = now,
// exp = now + 10 minutes, as docs/token-service.md describes).
// One difference: x5t#S256 is base64url, as RFC 7515 says, where MSAL Go
// sends padded standard base64; the token service accepts both.
// [RequestToken] posts the form and returns a [Token]; the token endpoint's
// error JSON becomes an [*Error]. Client secrets travel in a [Secret], which
// prints as [redacted].
package oauthclient
