package pki

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"software.sslmate.com/src/go-pkcs12"
)

func TestRC2_DecryptsTheRFC2268Vectors(t *testing.T) {
	// RFC 2268 section 5.
	for _, tc := range []struct {
		key, plain, cipher string
		t1                 int
	}{
		{"0000000000000000", "0000000000000000", "ebb773f993278eff", 63},
		{"ffffffffffffffff", "ffffffffffffffff", "278b27e42e2f0d49", 64},
		{"3000000000000000", "1000000000000001", "30649edf9be7d2c2", 64},
		{"88", "0000000000000000", "61a8a244adacccf0", 64},
		{"88bca90e90875a", "0000000000000000", "6ccf4308974c267f", 64},
		{"88bca90e90875a7f0f79c384627bafb2", "0000000000000000", "1a807d272bbe5db1", 64},
		{"88bca90e90875a7f0f79c384627bafb2", "0000000000000000", "2269552ab0f85ca6", 128},
		{"88bca90e90875a7f0f79c384627bafb216f80a6f85920584c42fceb0be255daf1e", "0000000000000000", "5b78d3a43dfff1f1", 129},
	} {
		key, _ := hex.DecodeString(tc.key)
		ct, _ := hex.DecodeString(tc.cipher)
		got := make([]byte, 8)
		newRC2(key, tc.t1).Decrypt(got, ct)
		if hex.EncodeToString(got) != tc.plain {
			t.Errorf("key %s t1 %d: decrypted %x, want %s", tc.key, tc.t1, got, tc.plain)
		}
	}
}

// TestPFXDecrypt_OpensTheSafesOfEveryEncoder checks the decryption that
// checkPFXWork relies on against go-pkcs12's own encoders: RC2-40 and
// 3DES with the PKCS#12 KDF, AES with PBKDF2, and both empty passwords.
func TestPFXDecrypt_OpensTheSafesOfEveryEncoder(t *testing.T) {
	m := newMaterial(t, ecKey(t))
	for _, tc := range []struct {
		name     string
		enc      *pkcs12.Encoder
		password string
	}{
		{"LegacyRC2", pkcs12.LegacyRC2, "P@ss"},
		{"LegacyDES", pkcs12.LegacyDES, "P@ss"},
		{"Modern2023", pkcs12.Modern2023, "P@ss"},
		{"Modern2026", pkcs12.Modern2026, "P@ss"},
		{"LegacyRC2 empty password", pkcs12.LegacyRC2, ""},
		{"Modern2023 non-ASCII password", pkcs12.Modern2023, "pässwörd€"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := tc.enc.Encode(m.key, m.leaf, nil, tc.password)
			if err != nil {
				t.Fatal(err)
			}
			pw, _ := bmpPassword(tc.password)
			opened := 0
			for _, safe := range pfxSafes(t, data) {
				if !safe.ContentType.Equal(oidEncryptedData) {
					continue
				}
				alg, ct := encryptedSafeContent(t, safe)
				plain, err := pfxDecrypt(alg, ct, pw)
				if err != nil {
					t.Fatalf("decrypt safe (%s): %v", alg.Algorithm, err)
				}
				var bags []pfxSafeBag
				if _, err := asn1.Unmarshal(plain, &bags); err != nil || len(bags) == 0 {
					t.Fatalf("decrypted safe is not bags: %v", err)
				}
				if _, err := pfxDecrypt(alg, ct, append([]byte{0, 'x'}, pw...)); !errors.Is(err, errPFXDecrypt) {
					// One in 256 wrong keys yields valid one-byte padding;
					// the bags would then fail to parse.
					if err == nil {
						t.Logf("wrong password happened to give valid padding")
					} else {
						t.Fatalf("wrong password: %v", err)
					}
				}
				opened++
			}
			if opened == 0 {
				t.Fatal("encoder wrote no encrypted safe")
			}
			if _, _, _, err := ParseCertificateAndKey(data, tc.password); err != nil {
				t.Fatalf("ParseCertificateAndKey: %v", err)
			}
		})
	}
}

// TestParseCertificateAndKey_BoundsKeyBagsInsideEncryptedSafes crafts PFX
// files with the private key's shrouded bag inside an encrypted safe, a
// layout go-pkcs12 reads (the first case proves it) but whose iteration
// count is invisible until the safe is decrypted.
func TestParseCertificateAndKey_BoundsKeyBagsInsideEncryptedSafes(t *testing.T) {
	m := newMaterial(t, ecKey(t))
	keyBag := func(declared int) pfxSafeBag { return shroudedKeyBag(t, m.key, "p", declared) }
	emptyPWKeyBag := shroudedKeyBag(t, m.key, "", 0)
	cert := certBag(t, m.leaf)
	over := maxPFXIterations + 1
	for _, tc := range []struct {
		name     string
		password string
		macPW    []byte // nil: go-pkcs12's empty-byte-string spelling
		safes    []craftedSafe
		wantErr  string // "" means the PFX opens
		wrongPW  bool
	}{
		{
			name: "key bag in an AES safe opens", password: "p",
			safes: []craftedSafe{{alg: "aes", iter: 2048, bags: []pfxSafeBag{cert, keyBag(0)}}},
		},
		{
			name: "key bag in a 3DES safe opens", password: "p",
			safes: []craftedSafe{{alg: "3des", iter: 2048, bags: []pfxSafeBag{cert, keyBag(0)}}},
		},
		{
			name: "empty password in go-pkcs12's second spelling opens", password: "", macPW: []byte{},
			safes: []craftedSafe{{alg: "3des", iter: 2048, pw: []byte{}, bags: []pfxSafeBag{cert, emptyPWKeyBag}}},
		},
		{
			name: "key bag in an AES safe over the cap", password: "p",
			safes:   []craftedSafe{{alg: "aes", iter: 1, bags: []pfxSafeBag{cert, keyBag(over)}}},
			wantErr: "PFX private key uses 1000001 key-derivation iterations",
		},
		{
			name: "key bag in a 3DES safe over the cap", password: "p",
			safes:   []craftedSafe{{alg: "3des", iter: 1, bags: []pfxSafeBag{cert, keyBag(over)}}},
			wantErr: "PFX private key uses 1000001",
		},
		{
			name: "key bags in two safes over the total", password: "p",
			safes: []craftedSafe{
				{alg: "aes", iter: 1, bags: []pfxSafeBag{cert, keyBag(maxPFXIterations), keyBag(maxPFXIterations)}},
				{alg: "3des", iter: 1, bags: []pfxSafeBag{keyBag(maxPFXIterations), keyBag(maxPFXIterations)}},
			},
			wantErr: "in total",
		},
		{
			name: "safe and key bag together over the total", password: "p",
			safes: []craftedSafe{
				{alg: "aes", iter: 1, bags: []pfxSafeBag{cert, keyBag(maxPFXIterations), keyBag(maxPFXIterations), keyBag(maxPFXIterations)}},
				{alg: "3des", iter: maxPFXIterations, skipEncrypt: true},
			},
			wantErr: "in total",
		},
		{
			name: "empty password in go-pkcs12's second spelling", password: "", macPW: []byte{},
			safes:   []craftedSafe{{alg: "3des", iter: 1, pw: []byte{}, bags: []pfxSafeBag{cert, keyBag(over)}}},
			wantErr: "PFX private key uses 1000001",
		},
		{
			name: "wrong password", password: "not-p", macPW: mustBMP("p"),
			safes:   []craftedSafe{{alg: "aes", iter: 1, pw: mustBMP("p"), bags: []pfxSafeBag{cert, keyBag(over)}}},
			wrongPW: true,
		},
		{
			// Decrypted noise: what a wrong key gives when the padding
			// happens to check out (about one time in 256).
			name: "content that is not bags reads as a wrong password", password: "p",
			safes:   []craftedSafe{{alg: "aes", iter: 1, plain: []byte("not DER at all")}},
			wrongPW: true,
		},
		{
			name: "unreadable encryption parameters", password: "p",
			safes:   []craftedSafe{{alg: "pbes2-junk", iter: 1}},
			wantErr: "PFX safe 1 is malformed",
		},
		{
			name: "unsupported safe algorithm", password: "p",
			safes:   []craftedSafe{{alg: "unknown", iter: 1, skipEncrypt: true}},
			wantErr: "unsupported PFX encryption algorithm",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			macPW := tc.macPW
			if macPW == nil {
				macPW = mustBMP(tc.password)
			}
			data := craftPFX(t, macPW, tc.safes)
			_, _, key, err := ParseCertificateAndKey(data, tc.password)
			switch {
			case tc.wrongPW:
				if !errors.Is(err, ErrWrongPassword) {
					t.Fatalf("error = %v; want %v", err, ErrWrongPassword)
				}
			case tc.wantErr == "":
				if err != nil {
					t.Fatal(err)
				}
				if !publicKeysEqual(key.Public(), m.key.Public()) {
					t.Fatal("wrong key")
				}
			default:
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v; want one containing %q", err, tc.wantErr)
				}
			}
		})
	}
}

// craftedSafe is one encrypted safe of a crafted PFX.
type craftedSafe struct {
	alg         string // "aes" (PBES2), "3des" (PKCS#12 PBE) or "unknown"
	iter        int
	pw          []byte // BMPString; the MAC password when nil
	bags        []pfxSafeBag
	plain       []byte // encrypted instead of bags when set
	skipEncrypt bool   // empty ciphertext: only the declared count matters
}

func mustBMP(s string) []byte {
	b, ok := bmpPassword(s)
	if !ok {
		panic("not BMP: " + s)
	}
	return b
}

func mustDER(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func explicitTag0(inner []byte) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner}
}

// craftPFX writes a PFX (RFC 7292 section 4) with a SHA-1 MAC under
// macPW and one encrypted safe per entry.
func craftPFX(t testing.TB, macPW []byte, safes []craftedSafe) []byte {
	t.Helper()
	var cis []pfxContentInfo
	for _, s := range safes {
		pw := s.pw
		if pw == nil {
			pw = macPW
		}
		var plain []byte
		switch {
		case s.plain != nil:
			plain = s.plain
		case !s.skipEncrypt:
			plain = mustDER(t, s.bags)
		}
		alg, ct := pbEncrypt(t, s.alg, s.iter, pw, plain)
		ed := struct {
			Version int
			Info    struct {
				ContentType asn1.ObjectIdentifier
				Algorithm   pkix.AlgorithmIdentifier
				Content     []byte `asn1:"tag:0,optional"`
			}
		}{}
		ed.Info.ContentType = oidData
		ed.Info.Algorithm = alg
		ed.Info.Content = ct
		cis = append(cis, pfxContentInfo{ContentType: oidEncryptedData, Content: explicitTag0(mustDER(t, ed))})
	}
	authSafe := mustDER(t, cis)
	salt := []byte("macsalt!")
	mac := hmac.New(sha1.New, pkcs12KDF(sha1.New, 20, 64, salt, macPW, 1, 3, 20))
	mac.Write(authSafe)
	type digestInfo struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}
	type macData struct {
		Mac        digestInfo
		MacSalt    []byte
		Iterations int
	}
	return mustDER(t, struct {
		Version  int
		AuthSafe pfxContentInfo
		MacData  macData
	}{
		3,
		pfxContentInfo{ContentType: oidData, Content: explicitTag0(mustDER(t, authSafe))},
		macData{digestInfo{pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, Parameters: asn1.NullRawValue}, mac.Sum(nil)}, salt, 1},
	})
}

// pbEncrypt encrypts plain (nothing when nil) as go-pkcs12 would decrypt it.
func pbEncrypt(t testing.TB, kind string, iter int, pw, plain []byte) (pkix.AlgorithmIdentifier, []byte) {
	t.Helper()
	salt := []byte("saltsalt")
	var (
		alg   pkix.AlgorithmIdentifier
		block cipher.Block
		iv    []byte
		err   error
	)
	switch kind {
	case "pbes2-junk":
		return pkix.AlgorithmIdentifier{Algorithm: oidPBES2, Parameters: asn1.NullRawValue}, make([]byte, 16)
	case "3des", "unknown":
		alg.Algorithm = oidPBEWithSHAAnd3KeyTripleDESCBC
		if kind == "unknown" {
			alg.Algorithm = asn1.ObjectIdentifier{1, 2, 3, 4}
		}
		alg.Parameters = asn1.RawValue{FullBytes: mustDER(t, struct {
			Salt       []byte
			Iterations int
		}{salt, iter})}
		if plain == nil {
			return alg, nil
		}
		block, err = des.NewTripleDESCipher(pkcs12KDF(sha1.New, 20, 64, salt, pw, iter, 1, 24))
		iv = pkcs12KDF(sha1.New, 20, 64, salt, pw, iter, 2, 8)
	case "aes":
		iv = make([]byte, 16)
		rand.Read(iv)
		type algID = pkix.AlgorithmIdentifier
		kdf := algID{Algorithm: oidPBKDF2, Parameters: asn1.RawValue{FullBytes: mustDER(t, struct {
			Salt       []byte
			Iterations int
			PRF        algID
		}{salt, iter, algID{Algorithm: oidHMACWithSHA256, Parameters: asn1.NullRawValue}})}}
		enc := algID{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: mustDER(t, iv)}}
		alg = algID{Algorithm: oidPBES2, Parameters: asn1.RawValue{FullBytes: mustDER(t, struct{ KDF, Enc algID }{kdf, enc})}}
		if plain == nil {
			return alg, nil
		}
		utf8PW, derr := decodeBMPString(pw)
		if derr != nil {
			t.Fatal(derr)
		}
		key, kerr := pbkdf2.Key(sha256.New, utf8PW, salt, iter, 32)
		if kerr != nil {
			t.Fatal(kerr)
		}
		block, err = aes.NewCipher(key)
	default:
		t.Fatalf("unknown algorithm %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	bs := block.BlockSize()
	pad := bs - len(plain)%bs
	padded := append(bytes.Clone(plain), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(padded, padded)
	return alg, padded
}

// shroudedKeyBag is a PKCS#8 shrouded key bag encrypted with AES under
// password and 2048 iterations, declaring declared iterations when not 0
// (the ciphertext then no longer opens, which the check must not need).
func shroudedKeyBag(t testing.TB, key crypto.Signer, password string, declared int) pfxSafeBag {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	iter := 2048
	if declared != 0 {
		iter = declared
	}
	alg, ct := pbEncrypt(t, "aes", 2048, mustBMP(password), der)
	if declared != 0 {
		alg, _ = pbEncrypt(t, "aes", iter, mustBMP(password), nil)
	}
	epki := mustDER(t, struct {
		Algorithm pkix.AlgorithmIdentifier
		Data      []byte
	}{alg, ct})
	return pfxSafeBag{ID: oidShroudedKey, Value: explicitTag0(epki)}
}

func certBag(t testing.TB, c *x509.Certificate) pfxSafeBag {
	t.Helper()
	bag := mustDER(t, struct {
		ID   asn1.ObjectIdentifier
		Data []byte `asn1:"tag:0,explicit"`
	}{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 22, 1}, c.Raw})
	return pfxSafeBag{ID: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 3}, Value: explicitTag0(bag)}
}

// pfxSafes returns the ContentInfos of a PFX's authenticated safe.
func pfxSafes(t *testing.T, data []byte) []pfxContentInfo {
	t.Helper()
	var pfx struct {
		Version  int
		AuthSafe pfxContentInfo
	}
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		t.Fatal(err)
	}
	var authSafe []byte
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		t.Fatal(err)
	}
	var safes []pfxContentInfo
	if _, err := asn1.Unmarshal(authSafe, &safes); err != nil {
		t.Fatal(err)
	}
	return safes
}

func encryptedSafeContent(t *testing.T, ci pfxContentInfo) (pkix.AlgorithmIdentifier, []byte) {
	t.Helper()
	var ed struct {
		Version int
		Info    struct {
			ContentType asn1.ObjectIdentifier
			Algorithm   pkix.AlgorithmIdentifier
			Content     []byte `asn1:"tag:0,optional"`
		}
	}
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
		t.Fatal(err)
	}
	return ed.Info.Algorithm, ed.Info.Content
}
