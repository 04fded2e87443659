package vault

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/seal"
)

// FuzzBackupBlob feeds arbitrary bytes to the restore path twice: as a
// blob (header, then the sealed envelope) and as the opened payload (its
// JSON, validated as untrusted). Neither may panic, and every refusal must
// be a client error (400) with a message; the seeds include valid blobs of
// each type, so the accepting paths are exercised too.
func FuzzBackupBlob(f *testing.F) {
	s := fuzzService(f)
	payloads := fuzzPayloads(f)
	for _, p := range payloads {
		blob, err := s.sealBackup(p)
		if err != nil {
			f.Fatal(err)
		}
		pt, _ := json.Marshal(p)
		f.Add(blob)
		f.Add(blob[:len(blob)/2])
		f.Add(pt)
	}
	f.Add([]byte(backupMagic))
	f.Add([]byte("PCVB\x01s"))
	f.Add([]byte("PCVB\x02k0000"))
	f.Add([]byte(`{"type":"secrets","name":"n","versions":[{"version":"0123456789abcdef0123456789abcdef","value":"AA=="}]}`))
	f.Add([]byte(`{"type":"secrets","name":"n","versions":[{"version":"0123456789ABCDEF0123456789ABCDEF"}]}`))
	f.Add([]byte(`{"type":"certificates","name":"n","policy":{"key_props":7},"versions":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range []ObjectType{Secrets, Keys, Certificates} {
			p, err := s.openBackup(typ, data)
			checkBackupResult(t, p, err)
			p, err = decodeBackupPayload(typ, data)
			checkBackupResult(t, p, err)
		}
	})
}

func checkBackupResult(t *testing.T, p backupPayload, err error) {
	t.Helper()
	if err != nil {
		if e := AsError(err); e.Kind != KindBadRequest || e.Message == "" {
			t.Fatalf("refusal of kind %v: %v", e.Kind, err)
		}
		return
	}
	if ValidateName(p.Name) != nil || len(p.Versions) == 0 {
		t.Fatalf("accepted an invalid payload: name %q, %d versions", p.Name, len(p.Versions))
	}
}

func TestBackupBlob_SeedsOpen(t *testing.T) {
	s := fuzzService(t)
	for _, p := range fuzzPayloads(t) {
		blob, err := s.sealBackup(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.openBackup(p.Type, blob)
		if err != nil || got.Name != p.Name || len(got.Versions) != len(p.Versions) {
			t.Fatalf("%s: opened %+v, %v", p.Type, got, err)
		}
	}
}

func fuzzService(t testing.TB) *Service {
	t.Helper()
	b := make([]byte, seal.RootKeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	k, err := seal.ParseRootKey(hex.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{}
	s.sealer.Store(&sealerBox{seal.NewSealer(k)})
	return s
}

// fuzzPayloads returns a valid payload of each type.
func fuzzPayloads(t testing.TB) []backupPayload {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fuzz"}, NotBefore: now, NotAfter: now.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	jwk, err := publicJWK(key.Public(), []string{OpSign, OpVerify})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := json.Marshal(jwk)
	keyMetaJSON, _ := json.Marshal(keyMeta{KeyOps: []string{OpSign, OpVerify}})
	certMetaJSON, _ := json.Marshal(certMeta{Exportable: true})
	policy, _ := json.Marshal(CertificatePolicy{X509Properties: &X509Properties{Subject: "CN=fuzz"}})
	v := func(id string) backupVersion {
		return backupVersion{Version: id, Created: now, Updated: now, Enabled: true, Tags: map[string]string{"a": "b"}}
	}
	sec1, sec2 := v("0123456789abcdef0123456789abcdef"), v("fedcba9876543210fedcba9876543210")
	sec1.Value, sec2.Value, sec2.ContentType, sec2.Expires = []byte("s3cret"), nil, "text/plain", now.Add(time.Hour)
	k := v("00000000000000000000000000000001")
	k.Value, k.Public, k.Meta = pkcs8, pub, keyMetaJSON
	c := v("00000000000000000000000000000002")
	c.Value, c.Public, c.Meta, c.ContentType = pkcs8, der, certMetaJSON, ContentTypePKCS12
	return []backupPayload{
		{Type: Secrets, Name: "fuzz-secret", Created: now, Versions: []backupVersion{sec1, sec2}},
		{Type: Keys, Name: "fuzz-key", Created: now, Versions: []backupVersion{k}},
		{Type: Certificates, Name: "fuzz-cert", Created: now, Policy: policy, Versions: []backupVersion{c}},
	}
}
