package guard

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/portcullis/portcullis/internal/jws"
)

// jsonWebKey is one member of a JWK Set (RFC 7517 §4, RFC 7518 §6). Only
// the public parameters are read; x5c, x5u and x5t are ignored for trust:
// n/e or crv/x/y are the key.
type jsonWebKey struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// parseJWKS returns the signature keys of a JWK Set by kid, at most
// maxKeys of them, and a note for each key it skipped. Keys for other uses
// (use other than "sig", key_ops without "verify"), without kid, with a
// kid seen before, of unsupported types or too weak are skipped; a
// document that is not a JWK Set is an error.
func parseJWKS(b []byte, maxKeys int) (map[string]crypto.PublicKey, []string, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		var wrongType *json.UnmarshalTypeError
		switch {
		case errors.As(err, &wrongType) && wrongType.Field == "" && wrongType.Value == "string":
			return nil, nil, errors.New(`not a JWK Set: a JSON string where the set itself belongs, {"keys": [...]} (its content, not a file name)`)
		case errors.As(err, &wrongType) && wrongType.Field == "":
			return nil, nil, fmt.Errorf(`not a JWK Set: a JSON %s where an object {"keys": [...]} belongs`, wrongType.Value)
		case errors.As(err, &wrongType) && wrongType.Field == "keys":
			return nil, nil, fmt.Errorf(`not a JWK Set: "keys" is a JSON %s, not an array of keys`, wrongType.Value)
		}
		return nil, nil, fmt.Errorf("not a JWK Set: %s", clip(err.Error(), 100))
	}
	if set.Keys == nil {
		return nil, nil, errors.New("not a JWK Set: no \"keys\" array")
	}
	keys := make(map[string]crypto.PublicKey)
	var skipped []string
	for i, raw := range set.Keys {
		if len(keys) >= maxKeys {
			skipped = append(skipped, fmt.Sprintf("keys after the first %d", maxKeys))
			break
		}
		var k jsonWebKey
		if err := json.Unmarshal(raw, &k); err != nil {
			skipped = append(skipped, fmt.Sprintf("key %d: not a JWK", i))
			continue
		}
		if k.Use != "" && k.Use != "sig" || len(k.KeyOps) > 0 && !slices.Contains(k.KeyOps, "verify") {
			continue // an encryption key: not ours to use, not worth a note
		}
		if k.Kid == "" {
			skipped = append(skipped, fmt.Sprintf("key %d: no kid", i))
			continue
		}
		if _, dup := keys[k.Kid]; dup {
			skipped = append(skipped, fmt.Sprintf("key %q: kid seen before; the first is kept", clip(k.Kid, 64)))
			continue
		}
		pub, err := k.publicKey()
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("key %q: %v", clip(k.Kid, 64), err))
			continue
		}
		if k.Alg != "" && !slices.Contains(jws.AlgorithmsFor(pub), k.Alg) {
			skipped = append(skipped, fmt.Sprintf("key %q: alg %q does not suit its %s key", clip(k.Kid, 64), clip(k.Alg, 20), k.Kty))
			continue
		}
		keys[k.Kid] = pub
	}
	return keys, skipped, nil
}

func (k *jsonWebKey) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "RSA":
		n, err := decodeParam("n", k.N, 0)
		if err != nil {
			return nil, err
		}
		e, err := decodeParam("e", k.E, 0)
		if err != nil {
			return nil, err
		}
		nn := new(big.Int).SetBytes(n)
		if bits := nn.BitLen(); bits < jws.MinRSABits || bits > 16384 {
			return nil, fmt.Errorf("RSA modulus of %d bits; %d to 16384 are accepted", bits, jws.MinRSABits)
		}
		if len(e) > 4 {
			return nil, errors.New("RSA exponent longer than 4 bytes")
		}
		ee := int(new(big.Int).SetBytes(e).Int64())
		if ee < 3 || ee%2 == 0 {
			return nil, fmt.Errorf("RSA exponent %d is not an odd number of at least 3", ee)
		}
		return &rsa.PublicKey{N: nn, E: ee}, nil
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return nil, fmt.Errorf("EC curve %q is not supported (P-256, P-384, P-521)", clip(k.Crv, 20))
		}
		size := (curve.Params().BitSize + 7) / 8
		// RFC 7518 §6.2.1.2: x and y are the full coordinate length.
		x, err := decodeParam("x", k.X, size)
		if err != nil {
			return nil, err
		}
		y, err := decodeParam("y", k.Y, size)
		if err != nil {
			return nil, err
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("EC point: %v", err)
		}
		return pub, nil
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("OKP curve %q is not supported (Ed25519)", clip(k.Crv, 20))
		}
		x, err := decodeParam("x", k.X, ed25519.PublicKeySize)
		if err != nil {
			return nil, err
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("key type %q is not supported for signatures (RSA, EC, OKP)", clip(k.Kty, 20))
}

// decodeParam decodes a base64url key parameter (padding tolerated), of
// exactly size bytes when size > 0.
func decodeParam(name, v string, size int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(v, "="))
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("parameter %s is missing or not base64url", name)
	}
	if size > 0 && len(b) != size {
		return nil, fmt.Errorf("parameter %s is %d bytes; want %d", name, len(b), size)
	}
	return b, nil
}

// StaticKeys is a KeySource over a fixed JWK Set, for an issuer whose keys
// cannot be fetched (a private Kubernetes service-account issuer, whose
// JWKS an administrator copies out of the cluster). It never refreshes:
// when the issuer rotates its keys, the set must be replaced.
type StaticKeys struct {
	issuer string
	keys   map[string]crypto.PublicKey
}

// NewStaticKeys parses jwks, a JWK Set document (RFC 7517 §5), as the
// keys of issuer. Keys that cannot verify signatures are skipped as
// OIDCKeySource skips them; a document that is not a JWK Set, or that
// holds no usable signature key, is an error that says why.
func NewStaticKeys(issuer string, jwks []byte) (*StaticKeys, error) {
	if issuer == "" {
		return nil, errors.New("guard: the issuer of a static key set is empty; give the iss value its tokens carry")
	}
	keys, skipped, err := parseJWKS(jwks, DefaultMaxKeys)
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	if len(keys) == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("guard: the JWK Set has no usable signature key (%s)", strings.Join(skipped, "; "))
		}
		return nil, errors.New("guard: the JWK Set has no usable signature key")
	}
	return &StaticKeys{issuer: issuer, keys: keys}, nil
}

// Issuer returns the issuer whose keys these are.
func (s *StaticKeys) Issuer() string { return s.issuer }

// Kids returns the key ids of the set, sorted.
func (s *StaticKeys) Kids() []string {
	out := make([]string, 0, len(s.keys))
	for kid := range s.keys {
		out = append(out, kid)
	}
	slices.Sort(out)
	return out
}

// Key implements KeySource. An unknown kid is an ordinary error (401):
// the set cannot change without an administrator.
func (s *StaticKeys) Key(_ context.Context, issuer, kid string) (crypto.PublicKey, error) {
	if issuer != s.issuer {
		return nil, fmt.Errorf("issuer %q is not %q, the issuer of this key set", clip(issuer, 100), s.issuer)
	}
	k, ok := s.keys[kid]
	if !ok {
		return nil, fmt.Errorf("kid %q is not in the configured key set of %s (kids: %s)", clip(kid, 64), s.issuer, strings.Join(s.Kids(), ", "))
	}
	return k, nil
}
