package pki

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

// seedCertificates adds valid inputs in every format, then junk derived from them.
func seedCertificates(f *testing.F) {
	m := newMaterial(f, ecKey(f))
	r := newMaterial(f, rsaKey())
	for _, s := range []struct {
		data     []byte
		password string
	}{
		{m.leaf.Raw, ""},
		{m.certsPEM, ""},
		{cat(m.certsPEM, m.keyPEM), ""},
		{cat(r.keyPEM, r.certsPEM), ""},
		{pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey())), ""},
		{m.pfx, "P@ss"},
		{m.pfx, ""},
		{r.pfx, "P@ss"},
		{mustPFX(f, m.leaf, m.key, nil, ""), ""},
		{m.pfx[:len(m.pfx)/2], "P@ss"},
		{m.leaf.Raw[:len(m.leaf.Raw)/2], ""},
		{[]byte("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"), ""},
		{[]byte{0x30, 0x03, 0x02, 0x01, 0x03}, ""},
		{[]byte{0x30, 0x80}, ""},
		{nil, ""},
		{[]byte("junk"), "junk"},
	} {
		f.Add(s.data, s.password)
	}
	// Legacy encoders (RC2-40 and 3DES safes) and crafted files with the
	// key bag inside an encrypted safe, where checkPFXWork must decrypt
	// before it can count.
	for _, enc := range []*pkcs12.Encoder{pkcs12.LegacyRC2, pkcs12.LegacyDES, pkcs12.Modern2026} {
		data, err := enc.Encode(m.key, m.leaf, nil, "P@ss")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, "P@ss")
	}
	cert, key := certBag(f, m.leaf), shroudedKeyBag(f, m.key, "p", 0)
	for _, safes := range [][]craftedSafe{
		{{alg: "aes", iter: 1, bags: []pfxSafeBag{cert, key}}},
		{{alg: "3des", iter: 1, bags: []pfxSafeBag{cert, key}}},
		{{alg: "aes", iter: 1, bags: []pfxSafeBag{cert}}, {alg: "3des", iter: 1, bags: []pfxSafeBag{key}}},
		{{alg: "3des", iter: 1, bags: []pfxSafeBag{cert, shroudedKeyBag(f, m.key, "p", maxPFXIterations+1)}}},
	} {
		f.Add(craftPFX(f, mustBMP("p"), safes), "p")
	}
	f.Add(craftPFX(f, []byte{}, []craftedSafe{{alg: "3des", iter: 1, pw: []byte{}, bags: []pfxSafeBag{cert, shroudedKeyBag(f, m.key, "", 0)}}}), "")
}

func FuzzParseCertificateFile(f *testing.F) {
	seedCertificates(f)
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		c, err := ParseCertificateFile(data, password)
		if (c == nil) == (err == nil) {
			t.Fatalf("certificate %v with error %v", c != nil, err)
		}
	})
}

func FuzzParseCertificateAndKey(f *testing.F) {
	seedCertificates(f)
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		leaf, _, key, err := ParseCertificateAndKey(data, password)
		if err != nil {
			return
		}
		if leaf == nil || key == nil || !publicKeysEqual(leaf.PublicKey, key.Public()) {
			t.Fatal("success without a matching leaf and key")
		}
	})
}

func FuzzDecodeThumbprint(f *testing.F) {
	c := selfSigned(f, "fuzz", ecKey(f))
	s1, s256 := sha1.Sum(c.Raw), sha256.Sum256(c.Raw)
	for _, s := range []string{
		X5T(c), X5TS256(c),
		base64.StdEncoding.EncodeToString(s1[:]), base64.StdEncoding.EncodeToString(s256[:]),
		base64.URLEncoding.EncodeToString(s1[:]), ThumbprintSHA1Hex(c),
		"", "=", "====", "-+/_", "\n", "a\r\nb", "\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := DecodeThumbprint(s)
		if err != nil {
			return
		}
		if len(raw) != sha1.Size && len(raw) != sha256.Size {
			t.Fatalf("%d bytes", len(raw))
		}
		// Every accepted spelling denotes the digest its base64url form denotes.
		again, err := DecodeThumbprint(base64.RawURLEncoding.EncodeToString(raw))
		if err != nil || !bytes.Equal(raw, again) {
			t.Fatalf("round trip: %x vs %x, %v", raw, again, err)
		}
	})
}

func FuzzParseSubject(f *testing.F) {
	for _, s := range []string{"CN=foo, O=Bar, OU=x, C=US, L=Paris, ST=IDF", `CN="a, b"`, `CN=a\2Cb\+c\ `, "CN=a+O=b", `CN=\`, `"`, ",", "=", "C=usa"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := ParseSubject(s)
		if err == nil && name.CommonName == "" {
			t.Fatal("accepted a subject without CN")
		}
	})
}

// FuzzCheckPFXWork runs the work bound without decodePFX's recover, so that
// a panic in it (or in the safe decryption it does) is a failure.
func FuzzCheckPFXWork(f *testing.F) {
	seedCertificates(f)
	f.Fuzz(func(t *testing.T, data []byte, password string) {
		_ = checkPFXWork(data, password)
	})
}
