package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// rsaKey is shared because RSA generation is slow; every test that needs a
// distinct key uses EC.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func selfSigned(t testing.TB, cn string, key crypto.Signer) *x509.Certificate {
	t.Helper()
	c, err := SelfSigned(pkix.Name{CommonName: cn}, key, 24*time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestParseKeyType(t *testing.T) {
	for _, tc := range []struct {
		in, want, wantErr string
	}{
		{in: "rsa2048", want: "rsa2048"},
		{in: "RSA3072", want: "rsa3072"},
		{in: " rsa4096 ", want: "rsa4096"},
		{in: "ec256", want: "ec256"},
		{in: "EC384", want: "ec384"},
		{in: "ec521", wantErr: `unknown key type "ec521": valid values are rsa2048, rsa3072, rsa4096, ec256, ec384`},
		{in: "", wantErr: "valid values are"},
		{in: "rsa", wantErr: "valid values are"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseKeyType(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseKeyType(%q) error = %v, want containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("ParseKeyType(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestGenerateKey_ProducesTheRequestedAlgorithmAndSize(t *testing.T) {
	for _, tc := range []struct {
		kt   KeyType
		bits int
		rsa  bool
	}{
		{KeyTypeRSA2048, 2048, true},
		{KeyTypeRSA3072, 3072, true},
		{KeyTypeRSA4096, 4096, true},
		{KeyTypeEC256, 256, false},
		{KeyTypeEC384, 384, false},
	} {
		t.Run(string(tc.kt), func(t *testing.T) {
			if tc.rsa && tc.bits > 2048 && testing.Short() {
				t.Skip("slow RSA generation in -short mode")
			}
			k, err := GenerateKey(tc.kt)
			if err != nil {
				t.Fatal(err)
			}
			switch k := k.(type) {
			case *rsa.PrivateKey:
				if !tc.rsa || k.N.BitLen() != tc.bits {
					t.Fatalf("got RSA %d bits", k.N.BitLen())
				}
			case *ecdsa.PrivateKey:
				if tc.rsa || k.Curve.Params().BitSize != tc.bits {
					t.Fatalf("got EC %d bits", k.Curve.Params().BitSize)
				}
			default:
				t.Fatalf("got %T", k)
			}
		})
	}
	if _, err := GenerateKey("dsa1024"); err == nil || !strings.Contains(err.Error(), "valid values are") {
		t.Fatalf("GenerateKey(dsa1024) error = %v", err)
	}
}

func TestParseSubject(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     pkix.Name
	}{
		{"cn only", "CN=foo", pkix.Name{CommonName: "foo"}},
		{"all attributes", "CN=foo, O=Bar, OU=x, OU=y, C=us, L=Paris, ST=IDF, STREET=1 Main St, POSTALCODE=75001, SERIALNUMBER=42",
			pkix.Name{CommonName: "foo", Organization: []string{"Bar"}, OrganizationalUnit: []string{"x", "y"}, Country: []string{"US"},
				Locality: []string{"Paris"}, Province: []string{"IDF"}, StreetAddress: []string{"1 Main St"}, PostalCode: []string{"75001"}, SerialNumber: "42"}},
		{"lower-case names and S alias", "cn=foo,s=WA", pkix.Name{CommonName: "foo", Province: []string{"WA"}}},
		{"escaped comma", `CN=Doe\, John`, pkix.Name{CommonName: "Doe, John"}},
		{"hex escape", `CN=a\2Cb`, pkix.Name{CommonName: "a,b"}},
		{"escaped plus", `CN=a\+b`, pkix.Name{CommonName: "a+b"}},
		{"quoted value", `CN="Doe, John", O=x`, pkix.Name{CommonName: "Doe, John", Organization: []string{"x"}}},
		{"escaped trailing space", `CN=foo\ `, pkix.Name{CommonName: "foo "}},
		{"value containing equals", "CN=a=b", pkix.Name{CommonName: "a=b"}},
		{"unicode", "CN=Zürich", pkix.Name{CommonName: "Zürich"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSubject(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want.String() {
				t.Fatalf("ParseSubject(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseSubject_ErrorsNameTheBadPart(t *testing.T) {
	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{"empty", "", "empty"},
		{"blank", "   ", "empty"},
		{"no CN", "O=Bar", "CN is required"},
		{"unknown attribute", "CN=foo, XX=1", `part 2 "XX=1": unknown attribute "XX"`},
		{"missing equals", "CN=foo, Bar", `part 2 "Bar": expected ATTRIBUTE=value`},
		{"empty value", "CN=foo, O=", `part 2 "O=": O has an empty value`},
		{"empty CN", "CN= ", "CN has an empty value"},
		{"trailing comma", "CN=foo,", `part 2 "": expected ATTRIBUTE=value`},
		{"missing name", "=foo", "missing attribute name"},
		{"duplicate CN", "CN=a, CN=b", "CN given more than once"},
		{"duplicate serial", "CN=a, SERIALNUMBER=1, SERIALNUMBER=2", "SERIALNUMBER given more than once"},
		{"bad country", "CN=a, C=USA", "two-letter"},
		{"digit country", "CN=a, C=1A", "two-letter"},
		{"multi-valued RDN", "CN=a+O=b", "multi-valued"},
		{"lone backslash", `CN=a\`, "lone backslash"},
		{"unterminated quote", `CN="a`, "unterminated double quote"},
		{"quote inside value", `CN=a"b"c`, "unescaped double quote"},
		{"invalid utf8 via hex", `CN=\FF`, "not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSubject(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ParseSubject(%q) error = %v, want containing %q", tc.in, err, tc.wantErr)
			}
		})
	}
}

func TestSelfSigned_IsAClientAuthLeaf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		key     crypto.Signer
		wantKU  x509.KeyUsage
		wantAlg x509.PublicKeyAlgorithm
	}{
		{"rsa", rsaKey(), x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, x509.RSA},
		{"ec", ecKey(t), x509.KeyUsageDigitalSignature, x509.ECDSA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			subj, err := ParseSubject("CN=my-app, O=Contoso")
			if err != nil {
				t.Fatal(err)
			}
			c, err := SelfSigned(subj, tc.key, 30*24*time.Hour, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if c.Subject.CommonName != "my-app" || c.Issuer.String() != c.Subject.String() {
				t.Errorf("subject %q issuer %q", c.Subject, c.Issuer)
			}
			if err := c.CheckSignatureFrom(c); err == nil {
				t.Error("a non-CA leaf must not verify as its own issuer via CheckSignatureFrom")
			}
			if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
				t.Errorf("self-signature: %v", err)
			}
			if c.IsCA || !c.BasicConstraintsValid {
				t.Errorf("IsCA=%v BasicConstraintsValid=%v", c.IsCA, c.BasicConstraintsValid)
			}
			if c.KeyUsage != tc.wantKU {
				t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, tc.wantKU)
			}
			if len(c.ExtKeyUsage) != 2 || c.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth || c.ExtKeyUsage[1] != x509.ExtKeyUsageServerAuth {
				t.Errorf("ExtKeyUsage = %v", c.ExtKeyUsage)
			}
			if c.PublicKeyAlgorithm != tc.wantAlg {
				t.Errorf("PublicKeyAlgorithm = %v", c.PublicKeyAlgorithm)
			}
			if !c.NotBefore.Equal(testNow.Add(-5*time.Minute)) || !c.NotAfter.Equal(testNow.Add(30*24*time.Hour)) {
				t.Errorf("validity %v .. %v", c.NotBefore, c.NotAfter)
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 || c.SerialNumber.BitLen() < 64 {
				t.Errorf("serial %v (%d bits)", c.SerialNumber, c.SerialNumber.BitLen())
			}
			if len(c.SubjectKeyId) != sha1.Size {
				t.Errorf("SubjectKeyId = %x", c.SubjectKeyId)
			}
			if !publicKeysEqual(c.PublicKey, tc.key.Public()) {
				t.Error("certificate key differs from the signer's")
			}
		})
	}
}

func TestSelfSigned_SerialsDiffer(t *testing.T) {
	k := ecKey(t)
	a, b := selfSigned(t, "a", k), selfSigned(t, "a", k)
	if a.SerialNumber.Cmp(b.SerialNumber) == 0 {
		t.Fatal("two certificates share a serial")
	}
}

func TestSelfSigned_Errors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		subject  pkix.Name
		key      crypto.Signer
		validity time.Duration
		wantErr  string
	}{
		{"no key", pkix.Name{CommonName: "a"}, nil, time.Hour, "no key"},
		{"zero validity", pkix.Name{CommonName: "a"}, ecKey(t), 0, "validity must be positive"},
		{"negative validity", pkix.Name{CommonName: "a"}, ecKey(t), -time.Hour, "validity must be positive"},
		{"no CN", pkix.Name{Organization: []string{"x"}}, ecKey(t), time.Hour, "no CN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SelfSigned(tc.subject, tc.key, tc.validity, testNow)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewServerCertificate_VerifiesAgainstItsCAForEveryHost(t *testing.T) {
	ca, caKey, err := NewCA("Portcullis development CA", 365*24*time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA || ca.MaxPathLen != 0 || !ca.MaxPathLenZero || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Fatalf("CA flags: IsCA=%v MaxPathLen=%d KeyUsage=%v", ca.IsCA, ca.MaxPathLen, ca.KeyUsage)
	}
	if _, ok := caKey.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("CA key is %T", caKey)
	}
	hosts := []string{"localhost", "127.0.0.1", "::1", "portcullis.test"}
	// Longer than the CA: NotAfter must be capped.
	cert, key, err := NewServerCertificate(ca, caKey, hosts, 2*365*24*time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		t.Fatal("server key does not match its certificate")
	}
	if cert.Subject.CommonName != "localhost" || len(cert.DNSNames) != 2 || len(cert.IPAddresses) != 2 {
		t.Fatalf("CN %q DNS %v IP %v", cert.Subject.CommonName, cert.DNSNames, cert.IPAddresses)
	}
	if !cert.NotAfter.Equal(ca.NotAfter) {
		t.Errorf("NotAfter %v not capped at CA NotAfter %v", cert.NotAfter, ca.NotAfter)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("ExtKeyUsage = %v", cert.ExtKeyUsage)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, h := range hosts {
		if _, err := cert.Verify(x509.VerifyOptions{DNSName: h, Roots: roots, CurrentTime: testNow}); err != nil {
			t.Errorf("verify for %s: %v", h, err)
		}
	}
	if !cert.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) {
		t.Errorf("IP %v", cert.IPAddresses[0])
	}
}

func TestNewServerCertificate_Errors(t *testing.T) {
	ca, caKey, err := NewCA("ca", time.Hour, testNow)
	if err != nil {
		t.Fatal(err)
	}
	leafKey := ecKey(t)
	leaf := selfSigned(t, "leaf", leafKey)
	for _, tc := range []struct {
		name     string
		ca       *x509.Certificate
		caKey    crypto.Signer
		hosts    []string
		validity time.Duration
		wantErr  string
	}{
		{"nil CA", nil, caKey, []string{"a"}, time.Hour, "no CA"},
		{"nil CA key", ca, nil, []string{"a"}, time.Hour, "no CA"},
		{"not a CA", leaf, leafKey, []string{"a"}, time.Hour, "not a CA"},
		{"mismatched key", ca, leafKey, []string{"a"}, time.Hour, "does not match"},
		{"no hosts", ca, caKey, nil, time.Hour, "no hosts"},
		{"empty host", ca, caKey, []string{"a", ""}, time.Hour, "empty host"},
		{"zero validity", ca, caKey, []string{"a"}, 0, "validity must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := NewServerCertificate(tc.ca, tc.caKey, tc.hosts, tc.validity, testNow)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
	for _, tc := range []struct {
		name, cn string
		validity time.Duration
	}{{"empty name", "", time.Hour}, {"zero validity", "ca", 0}} {
		t.Run("NewCA "+tc.name, func(t *testing.T) {
			if _, _, err := NewCA(tc.cn, tc.validity, testNow); err == nil {
				t.Fatal("NewCA succeeded")
			}
		})
	}
}

func TestThumbprints_MatchTheDigestsOfTheDER(t *testing.T) {
	c := selfSigned(t, "thumb", ecKey(t))
	s1 := sha1.Sum(c.Raw)
	s256 := sha256.Sum256(c.Raw)
	if got, want := ThumbprintSHA1Hex(c), strings.ToUpper(hex.EncodeToString(s1[:])); got != want || len(got) != 40 {
		t.Errorf("ThumbprintSHA1Hex = %s, want %s", got, want)
	}
	if got := X5T(c); got != base64.RawURLEncoding.EncodeToString(s1[:]) || strings.ContainsAny(got, "=+/") {
		t.Errorf("X5T = %s", got)
	}
	if got := X5TS256(c); got != base64.RawURLEncoding.EncodeToString(s256[:]) || strings.ContainsAny(got, "=+/") {
		t.Errorf("X5TS256 = %s", got)
	}
	for _, s := range []string{X5T(c), X5TS256(c)} {
		raw, err := DecodeThumbprint(s)
		if err != nil {
			t.Fatalf("DecodeThumbprint(%s): %v", s, err)
		}
		if !bytes.Equal(raw, s1[:]) && !bytes.Equal(raw, s256[:]) {
			t.Errorf("DecodeThumbprint(%s) = %x", s, raw)
		}
	}
}

func TestDecodeThumbprint(t *testing.T) {
	// Digests with bytes 0xfb/0xff so that the std and url alphabets differ.
	d1 := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 7)[:20]
	d256 := bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 11)[:32]
	for _, tc := range []struct {
		name, in string
		want     []byte
		wantErr  string
	}{
		{name: "sha1 base64url raw", in: base64.RawURLEncoding.EncodeToString(d1), want: d1},
		{name: "sha1 base64url padded", in: base64.URLEncoding.EncodeToString(d1), want: d1},
		{name: "sha1 std padded (MSAL Go)", in: base64.StdEncoding.EncodeToString(d1), want: d1},
		{name: "sha1 std raw", in: base64.RawStdEncoding.EncodeToString(d1), want: d1},
		{name: "sha256 base64url raw", in: base64.RawURLEncoding.EncodeToString(d256), want: d256},
		{name: "sha256 std padded", in: base64.StdEncoding.EncodeToString(d256), want: d256},
		{name: "empty", in: "", wantErr: "0 bytes"},
		{name: "wrong length", in: base64.RawURLEncoding.EncodeToString(make([]byte, 16)), wantErr: "16 bytes"},
		{name: "hex sha1", in: strings.Repeat("AB", 20), wantErr: "30 bytes"},
		{name: "junk", in: "not a thumbprint!", wantErr: "not base64"},
		{name: "mixed alphabets", in: "-+" + base64.RawStdEncoding.EncodeToString(d1)[2:], wantErr: "mixes"},
		{name: "too much padding", in: base64.RawStdEncoding.EncodeToString(d1) + "===", wantErr: "padding"},
		{name: "misplaced padding", in: base64.RawStdEncoding.EncodeToString(d1) + "==", wantErr: "padding"},
		{name: "embedded newline", in: base64.RawStdEncoding.EncodeToString(d1)[:10] + "\n" + base64.RawStdEncoding.EncodeToString(d1)[10:], wantErr: "not base64"},
		{name: "non-zero trailing bits", in: base64.RawURLEncoding.EncodeToString(d1)[:26] + "_", wantErr: "not base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeThumbprint(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DecodeThumbprint(%q) = %x, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("DecodeThumbprint(%q) = %x, %v; want %x", tc.in, got, err, tc.want)
			}
		})
	}
}

// material is one certificate+key fixture in every encoding the tests feed.
type material struct {
	leaf     *x509.Certificate
	key      crypto.Signer
	ca       *x509.Certificate
	keyPEM   []byte // PKCS#8
	certsPEM []byte // leaf then CA
	pfx      []byte // password "P@ss", with the CA
}

func newMaterial(t testing.TB, key crypto.Signer) material {
	t.Helper()
	m := material{key: key, leaf: selfSigned(t, "leaf", key), ca: selfSigned(t, "other", ecKey(t))}
	var err error
	if m.keyPEM, err = EncodePrivateKeyPEM(key); err != nil {
		t.Fatal(err)
	}
	m.certsPEM = EncodeCertificatePEM(m.leaf, m.ca)
	if m.pfx, err = EncodePFX(m.leaf, key, []*x509.Certificate{m.ca}, "P@ss"); err != nil {
		t.Fatal(err)
	}
	return m
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestParseCertificateFile(t *testing.T) {
	m := newMaterial(t, ecKey(t))
	certOnlyPEM := EncodeCertificatePEM(m.leaf)
	for _, tc := range []struct {
		name     string
		data     []byte
		password string
		want     *x509.Certificate
	}{
		{name: "DER", data: m.leaf.Raw, want: m.leaf},
		{name: "PEM", data: certOnlyPEM, want: m.leaf},
		{name: "PEM first certificate wins", data: EncodeCertificatePEM(m.ca, m.leaf), want: m.ca},
		{name: "PEM key and text ignored", data: cat([]byte("subject=CN=leaf\n"), m.keyPEM, pemBlock("EC PARAMETERS", []byte{6, 8}), certOnlyPEM), want: m.leaf},
		{name: "PEM with CRLF", data: bytes.ReplaceAll(certOnlyPEM, []byte("\n"), []byte("\r\n")), want: m.leaf},
		{name: "PFX with password", data: m.pfx, password: "P@ss", want: m.leaf},
		{name: "PFX with empty password", data: mustPFX(t, m.leaf, m.key, nil, ""), want: m.leaf},
		{name: "PFX leaf chosen by key, not order", data: mustPFX(t, m.leaf, m.key, []*x509.Certificate{m.ca}, "x"), password: "x", want: m.leaf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCertificateFile(tc.data, tc.password)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) {
				t.Fatalf("got %q, want %q", got.Subject, tc.want.Subject)
			}
		})
	}
}

func mustPFX(t testing.TB, leaf *x509.Certificate, key crypto.Signer, chain []*x509.Certificate, password string) []byte {
	t.Helper()
	b, err := EncodePFX(leaf, key, chain, password)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseCertificateFile_Errors(t *testing.T) {
	m := newMaterial(t, ecKey(t))
	badDER := bytes.Clone(m.leaf.Raw)
	badDER[len(badDER)/2] ^= 0xff
	for _, tc := range []struct {
		name     string
		data     []byte
		password string
		wantIs   error
		wantErr  string
	}{
		{name: "empty", data: nil, wantIs: ErrNotCertificate},
		{name: "junk", data: []byte("hello world"), wantIs: ErrNotCertificate, wantErr: "not a certificate: expected DER, PEM or PFX"},
		{name: "ASN.1 that is neither", data: []byte{0x30, 0x03, 0x04, 0x01, 0x00}, wantIs: ErrNotCertificate},
		{name: "corrupt DER", data: badDER, wantErr: "DER certificate"},
		{name: "truncated DER", data: m.leaf.Raw[:len(m.leaf.Raw)-10], wantIs: ErrNotCertificate},
		{name: "PEM without certificate", data: m.keyPEM, wantErr: "no CERTIFICATE block"},
		{name: "malformed PEM", data: []byte("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"), wantErr: "malformed PEM"},
		{name: "truncated PEM", data: EncodeCertificatePEM(m.leaf)[:200], wantErr: "malformed PEM"},
		{name: "PEM certificate block with garbage", data: pemBlock("CERTIFICATE", []byte{1, 2, 3}), wantErr: "PEM CERTIFICATE block"},
		{name: "PFX wrong password", data: m.pfx, password: "nope", wantIs: ErrWrongPassword, wantErr: "PFX password is wrong"},
		{name: "PFX missing password", data: m.pfx, password: "", wantIs: ErrWrongPassword},
		{name: "PFX truncated", data: m.pfx[:len(m.pfx)-40], password: "P@ss", wantIs: ErrNotCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCertificateFile(tc.data, tc.password)
			if err == nil {
				t.Fatalf("got %q, want an error", got.Subject)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseCertificateAndKey(t *testing.T) {
	ec := newMaterial(t, ecKey(t))
	rs := newMaterial(t, rsaKey())
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ed := newMaterial(t, edKey)
	sec1, err := x509.MarshalECPrivateKey(ec.key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PrivateKey(rsaKey())
	for _, tc := range []struct {
		name      string
		m         material
		data      []byte
		password  string
		wantChain int
	}{
		{name: "PEM PKCS#8 EC, key last", m: ec, data: cat(ec.certsPEM, ec.keyPEM), wantChain: 1},
		{name: "PEM PKCS#8 RSA, key first", m: rs, data: cat(rs.keyPEM, rs.certsPEM), wantChain: 1},
		{name: "PEM PKCS#8 Ed25519", m: ed, data: cat(ed.certsPEM, ed.keyPEM), wantChain: 1},
		{name: "PEM leaf not first", m: ec, data: cat(EncodeCertificatePEM(ec.ca, ec.leaf), ec.keyPEM), wantChain: 1},
		{name: "PEM SEC1 EC PRIVATE KEY", m: ec, data: cat(EncodeCertificatePEM(ec.leaf), pemBlock("EC PRIVATE KEY", sec1))},
		{name: "PEM PKCS#1 RSA PRIVATE KEY", m: rs, data: cat(EncodeCertificatePEM(rs.leaf), pemBlock("RSA PRIVATE KEY", pkcs1))},
		{name: "PEM PKCS#1 inside PRIVATE KEY (Key Vault)", m: rs, data: cat(pemBlock("PRIVATE KEY", pkcs1), EncodeCertificatePEM(rs.leaf))},
		{name: "PEM SEC1 inside PRIVATE KEY", m: ec, data: cat(pemBlock("PRIVATE KEY", sec1), EncodeCertificatePEM(ec.leaf))},
		{name: "PEM password ignored", m: ec, data: cat(ec.certsPEM, ec.keyPEM), password: "whatever", wantChain: 1},
		{name: "PFX EC", m: ec, data: ec.pfx, password: "P@ss", wantChain: 1},
		{name: "PFX RSA", m: rs, data: rs.pfx, password: "P@ss", wantChain: 1},
		{name: "PFX empty password", m: ec, data: mustPFX(t, ec.leaf, ec.key, nil, ""), password: ""},
		{name: "PFX unicode password", m: ec, data: mustPFX(t, ec.leaf, ec.key, nil, "pässwörd"), password: "pässwörd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf, chain, key, err := ParseCertificateAndKey(tc.data, tc.password)
			if err != nil {
				t.Fatal(err)
			}
			if !leaf.Equal(tc.m.leaf) {
				t.Errorf("leaf %q, want %q", leaf.Subject, tc.m.leaf.Subject)
			}
			if len(chain) != tc.wantChain {
				t.Errorf("chain has %d certificates, want %d", len(chain), tc.wantChain)
			} else if tc.wantChain == 1 && !chain[0].Equal(tc.m.ca) {
				t.Errorf("chain[0] = %q", chain[0].Subject)
			}
			if !publicKeysEqual(tc.m.key.Public(), key.Public()) {
				t.Error("key differs")
			}
		})
	}
}

func TestParseCertificateAndKey_Errors(t *testing.T) {
	m := newMaterial(t, ecKey(t))
	other := newMaterial(t, ecKey(t))
	for _, tc := range []struct {
		name     string
		data     []byte
		password string
		wantIs   error
		wantErr  string
	}{
		{name: "empty", data: nil, wantIs: ErrNotCertificate},
		{name: "junk", data: []byte{0xde, 0xad, 0xbe, 0xef}, wantIs: ErrNotCertificate},
		{name: "DER has no key", data: m.leaf.Raw, wantIs: ErrNoPrivateKey, wantErr: "DER"},
		{name: "PEM without key", data: m.certsPEM, wantIs: ErrNoPrivateKey},
		{name: "PEM key without certificate", data: m.keyPEM, wantErr: "no certificate"},
		{name: "PEM with neither", data: pemBlock("PUBLIC KEY", []byte{1}), wantErr: "neither a CERTIFICATE nor a PRIVATE KEY"},
		{name: "PEM key does not match", data: cat(m.certsPEM, other.keyPEM), wantIs: ErrKeyMismatch, wantErr: "does not match"},
		{name: "PEM two keys", data: cat(m.certsPEM, m.keyPEM, m.keyPEM), wantErr: "more than one private key"},
		{name: "PEM garbage key", data: cat(m.certsPEM, pemBlock("PRIVATE KEY", []byte{0x30, 0})), wantErr: "not a PKCS#8, PKCS#1 or SEC1"},
		{name: "PEM encrypted PKCS#8", data: cat(m.certsPEM, pemBlock("ENCRYPTED PRIVATE KEY", []byte{0x30, 0})), wantErr: "encrypted PEM private keys are not supported"},
		{name: "PEM legacy encrypted", data: cat(m.certsPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-256-CBC,00"}, Bytes: []byte{1}})), wantErr: "encrypted PEM"},
		{name: "PEM malformed", data: cat(m.certsPEM, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n")), wantErr: "malformed PEM"},
		{name: "PEM bad certificate", data: cat(pemBlock("CERTIFICATE", []byte{0x30, 0}), m.keyPEM), wantErr: "PEM certificate 1"},
		{name: "PFX wrong password", data: m.pfx, password: "wrong", wantIs: ErrWrongPassword},
		{name: "PFX truncated", data: m.pfx[:100], password: "P@ss", wantIs: ErrNotCertificate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := ParseCertificateAndKey(tc.data, tc.password)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v is not %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestEncodePFX_Errors(t *testing.T) {
	m := newMaterial(t, ecKey(t))
	for _, tc := range []struct {
		name    string
		leaf    *x509.Certificate
		key     crypto.Signer
		chain   []*x509.Certificate
		wantErr string
	}{
		{"nil leaf", nil, m.key, nil, "required"},
		{"nil key", m.leaf, nil, nil, "required"},
		{"mismatched key", m.leaf, ecKey(t), nil, "does not match"},
		{"nil chain entry", m.leaf, m.key, []*x509.Certificate{nil}, "chain certificate 0 is nil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := EncodePFX(tc.leaf, tc.key, tc.chain, "p")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestEncodePrivateKeyPEM_IsPKCS8(t *testing.T) {
	for _, k := range []crypto.Signer{rsaKey(), ecKey(t)} {
		b, err := EncodePrivateKeyPEM(k)
		if err != nil {
			t.Fatal(err)
		}
		blk, rest := pem.Decode(b)
		if blk == nil || blk.Type != "PRIVATE KEY" || len(rest) != 0 {
			t.Fatalf("PEM %q", b)
		}
		if _, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := EncodePrivateKeyPEM(nil); err == nil {
		t.Fatal("nil key accepted")
	}
}

func TestEncodeCertificatePEM_SkipsNil(t *testing.T) {
	c := selfSigned(t, "a", ecKey(t))
	if got := EncodeCertificatePEM(nil, c, nil); bytes.Count(got, []byte("BEGIN CERTIFICATE")) != 1 {
		t.Fatalf("got %s", got)
	}
	if got := EncodeCertificatePEM(); len(got) != 0 {
		t.Fatalf("got %q", got)
	}
}

func TestParseCertificateAndKey_RefusesExcessiveKDFIterations(t *testing.T) {
	m := newMaterial(t, ecKey(t))
	for _, tc := range []struct {
		name string
		enc  *pkcs12.Encoder
		ok   bool
	}{
		{"Modern2023 default", pkcs12.Modern2023, true},
		{"at the cap", pkcs12.Modern2023.WithIterations(maxPFXIterations), true},
		{"Modern2023 over the cap", pkcs12.Modern2023.WithIterations(maxPFXIterations + 1), false},
		{"LegacyDES over the cap", pkcs12.LegacyDES.WithIterations(maxPFXIterations + 1), false},
		{"Modern2026 PBMAC1 over the cap", pkcs12.Modern2026.WithIterations(maxPFXIterations + 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ok && testing.Short() && tc.enc != pkcs12.Modern2023 {
				t.Skip("slow KDF in -short mode")
			}
			pfx, err := tc.enc.Encode(m.key, m.leaf, nil, "p")
			if err != nil {
				t.Fatal(err)
			}
			_, _, _, err = ParseCertificateAndKey(pfx, "p")
			if tc.ok != (err == nil) {
				t.Fatalf("error = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && !strings.Contains(err.Error(), "key-derivation iterations") {
				t.Fatalf("error = %v", err)
			}
		})
	}
}

// pfxWithEncryptedSafes is a PFX skeleton (no MAC, empty ciphertexts) whose
// authenticated safe holds one encrypted safe per count, each naming a
// PKCS#12 PBE algorithm with that iteration count.
func pfxWithEncryptedSafes(t *testing.T, counts ...int) []byte {
	t.Helper()
	mustMarshal := func(v any) []byte {
		b, err := asn1.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	explicit0 := func(inner []byte) asn1.RawValue {
		return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}
	}
	pbeWithSHAAnd3KeyTripleDESCBC := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 1, 3}
	var safes []pfxContentInfo
	for _, n := range counts {
		params := mustMarshal(struct {
			Salt       []byte
			Iterations int
		}{[]byte("saltsalt"), n})
		ed := struct {
			Version int
			Info    struct {
				ContentType asn1.ObjectIdentifier
				Algorithm   pkix.AlgorithmIdentifier
			}
		}{}
		ed.Info.ContentType = oidData
		ed.Info.Algorithm = pkix.AlgorithmIdentifier{Algorithm: pbeWithSHAAnd3KeyTripleDESCBC, Parameters: asn1.RawValue{FullBytes: params}}
		safes = append(safes, pfxContentInfo{ContentType: oidEncryptedData, Content: explicit0(mustMarshal(ed))})
	}
	authSafe := mustMarshal(mustMarshal(safes)) // OCTET STRING holding the SEQUENCE
	return mustMarshal(struct {
		Version  int
		AuthSafe pfxContentInfo
	}{3, pfxContentInfo{ContentType: oidData, Content: explicit0(authSafe)}})
}

func TestCheckPFXWork_BoundsTheTotalOverAllSafes(t *testing.T) {
	under := maxPFXIterations / 2
	for _, tc := range []struct {
		name    string
		counts  []int
		wantErr string
	}{
		{"three safes at the cap", []int{maxPFXIterations, maxPFXIterations, maxPFXIterations}, ""},
		{"one safe over the cap", []int{2048, maxPFXIterations + 1}, "uses 1000001 key-derivation iterations"},
		{"many safes each under the cap", slices.Repeat([]int{under}, 2*maxPFXTotalIterations/under), "in total"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := pfxWithEncryptedSafes(t, tc.counts...)
			if sniff(data) != formatPFX {
				t.Fatal("test PFX not recognised as PFX")
			}
			err := checkPFXWork(data, "p")
			if tc.wantErr == "" {
				// Within the caps the check goes on to open the safes,
				// whose skeleton ciphertexts are empty.
				if !errors.Is(err, ErrWrongPassword) {
					t.Fatalf("error = %v; want the safes opened (and %v)", err, ErrWrongPassword)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v; want one containing %q", err, tc.wantErr)
			}
			if _, _, _, err := ParseCertificateAndKey(data, "p"); err == nil || !strings.Contains(err.Error(), "key-derivation iterations") {
				t.Fatalf("ParseCertificateAndKey error = %v; want the iteration refusal", err)
			}
		})
	}
}
