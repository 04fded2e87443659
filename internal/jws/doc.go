// Package jws is the one compact-JWS parser and signature check of
// Portcullis: the token service uses it for client assertions, package
// guard for bearer tokens.
//
// It is deliberately small and strict (why we keep it rather than a JOSE
// library is in docs/DEPENDENCIES.md):
//
//   - Parse accepts exactly three dot-separated segments of strict
//     base64url without padding (RFC 7515 §2, §7.1): '=', '+', '/',
//     whitespace and non-zero trailing bits are refused, so one token has
//     exactly one accepted spelling. The header must be a JSON object with
//     a non-empty "alg"; any "crit" is refused (RFC 7515 §4.1.11: we
//     understand no extension). Header parameter names are matched exactly
//     (encoding/json alone would also take "ALG" for "alg"). Its errors are
//     *ParseError values naming the segment at fault, so that a caller can
//     map them onto its own protocol's errors without reading their text.
//   - VerifySignature checks a signature with a public key, under an
//     allow-list per key type: RSA (at least 2048 bits) with RS256/384/512
//     or PS256/384/512, ECDSA with the curve's own ES256/384/512 and an R||S
//     signature of exact length (RFC 7518 §3.4), Ed25519 with EdDSA. "none"
//     and HMAC are never accepted: a public key is not a shared secret.
//   - NumericDate and Audience decode the JWT claim types (RFC 7519 §2,
//     §4.1.3).
//
// Parse verifies nothing; callers choose the key (never from the token's
// own jwk, jku, x5u or x5c headers), then call VerifySignature, then check
// the claims.
package jws
