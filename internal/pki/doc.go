// Package pki holds the pure certificate and key functions of Portcullis:
// key generation ([GenerateKey] for a [KeyType]), self-signed client
// certificates ([SelfSigned]), a development CA and server certificates
// ([NewCA], [NewServerCertificate]), Entra/JOSE thumbprints ([X5T],
// [X5TS256], [ThumbprintSHA1Hex], [DecodeThumbprint]) and PEM/DER/PFX
// encoding and decoding ([ParseCertificateFile], [ParseCertificateAndKey],
// [EncodePFX]).
//
// Nothing here touches the network, the store or the clock: callers pass
// the current time in, and every parser returns an error, never panics, on
// untrusted input.
package pki
