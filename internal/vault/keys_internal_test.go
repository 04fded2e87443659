package vault

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 3394 section 4 test vectors.
func TestAESKeyWrap_RFC3394Vectors(t *testing.T) {
	for _, tc := range []struct{ name, kek, data, wrapped string }{
		{"4.1 128-bit data, 128-bit KEK", "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF", "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
		{"4.2 128-bit data, 192-bit KEK", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF", "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"},
		{"4.3 128-bit data, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF", "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"},
		{"4.4 192-bit data, 192-bit KEK", "000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF0001020304050607", "031D33264E15D33268F24EC260743EDCE1C6C7DDEE725A936BA814915C6762D2"},
		{"4.5 192-bit data, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF0001020304050607", "A8F9BC1612C68B3FF6E6F4FBE30E71E4769C8B80A32CB8958CD5D17D6B254DA1"},
		{"4.6 256-bit data, 256-bit KEK", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			block, err := aes.NewCipher(unhex(t, tc.kek))
			if err != nil {
				t.Fatal(err)
			}
			got, err := aesKeyWrap(block, unhex(t, tc.data))
			if err != nil || !bytes.Equal(got, unhex(t, tc.wrapped)) {
				t.Fatalf("wrap = %X, %v; want %s", got, err, tc.wrapped)
			}
			back, ok := aesKeyUnwrap(block, got)
			if !ok || !bytes.Equal(back, unhex(t, tc.data)) {
				t.Fatalf("unwrap = %X, %v", back, ok)
			}
			got[len(got)-1] ^= 1
			if _, ok := aesKeyUnwrap(block, got); ok {
				t.Fatal("a tampered wrapped key unwrapped")
			}
		})
	}
	block, _ := aes.NewCipher(make([]byte, 16))
	for _, n := range []int{0, 8, 17} {
		if _, err := aesKeyWrap(block, make([]byte, n)); err == nil {
			t.Fatalf("wrapped %d bytes", n)
		}
	}
	for _, n := range []int{0, 16, 25} {
		if _, ok := aesKeyUnwrap(block, make([]byte, n)); ok {
			t.Fatalf("unwrapped %d bytes", n)
		}
	}
}

// NIST GCM test vectors (McGrew and Viega, "The Galois/Counter Mode of
// Operation", test cases 4, 10 and 16: with additional data), decrypted
// through aesDecrypt with Key Vault's separate iv, aad and tag members.
func TestAESGCM_NISTVectorsDecrypt(t *testing.T) {
	const (
		iv  = "cafebabefacedbaddecaf888"
		aad = "feedfacedeadbeeffeedfacedeadbeefabaddad2"
		pt  = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
	)
	for _, tc := range []struct{ alg, key, ct, tag string }{
		{"A128GCM", "feffe9928665731c6d6a8f9467308308",
			"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
			"5bc94fbc3221a5db94fae95ae7121a47"},
		{"A192GCM", "feffe9928665731c6d6a8f9467308308feffe9928665731c",
			"3980ca0b3c00e841eb06fac4872a2757859e1ceaa6efd984628593b40ca1e19c7d773d00c144c525ac619d18c84a3f4718e2448b2fe324d9ccda2710",
			"2519498e80f1478f37ba55bd6d27618c"},
		{"A256GCM", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
			"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
			"76fc6ece0f4e1768cddf8853bb2d551b"},
	} {
		t.Run(tc.alg, func(t *testing.T) {
			p := SymmetricParams{IV: unhex(t, iv), AAD: unhex(t, aad), Tag: unhex(t, tc.tag)}
			res, err := aesDecrypt(unhex(t, tc.key), tc.alg, unhex(t, tc.ct), p)
			if err != nil || !bytes.Equal(res.Result.Bytes(), unhex(t, pt)) {
				t.Fatalf("decrypt = %X, %v", res.Result.Bytes(), err)
			}
			p.AAD = p.AAD[1:]
			if _, err := aesDecrypt(unhex(t, tc.key), tc.alg, unhex(t, tc.ct), p); err == nil {
				t.Fatal("decrypted with altered aad")
			}
		})
	}
}

// NIST SP 800-38A F.2.1 (CBC-AES128.Encrypt), first two blocks.
func TestAESCBC_SP80038AVector(t *testing.T) {
	key := unhex(t, "2b7e151628aed2a6abf7158809cf4f3c")
	iv := unhex(t, "000102030405060708090a0b0c0d0e0f")
	pt := unhex(t, "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51")
	want := unhex(t, "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2")
	res, err := aesEncrypt(key, "A128CBC", pt, SymmetricParams{IV: iv})
	if err != nil || !bytes.Equal(res.Result.Bytes(), want) || !bytes.Equal(res.IV, iv) {
		t.Fatalf("encrypt = %X, %v", res.Result.Bytes(), err)
	}
	// With padding, the same two blocks come first and one block of padding follows.
	res, err = aesEncrypt(key, "A128CBCPAD", pt, SymmetricParams{IV: iv})
	if err != nil || len(res.Result.Bytes()) != 48 || !bytes.Equal(res.Result.Bytes()[:32], want) {
		t.Fatalf("encrypt padded = %X, %v", res.Result.Bytes(), err)
	}
	back, err := aesDecrypt(key, "A128CBCPAD", res.Result.Bytes(), SymmetricParams{IV: iv})
	if err != nil || !bytes.Equal(back.Result.Bytes(), pt) {
		t.Fatalf("decrypt padded = %X, %v", back.Result.Bytes(), err)
	}
}

func TestPKCS7_UnpadRefusesBadPadding(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"one byte", append(bytes.Repeat([]byte{7}, 15), 1), true},
		{"full block", bytes.Repeat([]byte{16}, 16), true},
		{"zero", make([]byte, 16), false},
		{"17", bytes.Repeat([]byte{17}, 16), false},
		{"inconsistent", append(bytes.Repeat([]byte{9}, 13), 2, 3, 3), false},
		{"not a block", []byte{1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := pkcs7Unpad(tc.in); ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
		})
	}
}

func FuzzAESDecrypt(f *testing.F) {
	f.Add("A128GCM", []byte("ciphertext"), make([]byte, 12), []byte{}, make([]byte, 16))
	f.Add("A256CBCPAD", make([]byte, 32), make([]byte, 16), []byte{}, []byte{})
	f.Add("A192KW", make([]byte, 24), []byte{}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, alg string, ct, iv, aad, tag []byte) {
		for _, n := range []int{16, 24, 32} {
			key := bytes.Repeat([]byte{1}, n)
			p := SymmetricParams{IV: iv, AAD: aad, Tag: tag}
			_, _ = aesDecrypt(key, alg, ct, p)
			_, _ = aesUnwrap(key, alg, ct, p)
			if res, err := aesEncrypt(key, alg, ct, SymmetricParams{AAD: aad}); err == nil {
				back, err := aesDecrypt(key, alg, res.Result.Bytes(), SymmetricParams{IV: res.IV, AAD: res.AdditionalAuthenticatedData, Tag: res.AuthenticationTag})
				if err != nil {
					t.Fatalf("%s round trip: %v", alg, err)
				}
				if !bytes.Equal(back.Result.Bytes(), ct) {
					t.Fatalf("%s round trip changed the data", alg)
				}
			}
		}
	})
}

func FuzzParseSecp256k1PKCS8(f *testing.F) {
	m, err := generateKey("EC", 0, CurveP256K)
	if err != nil {
		f.Fatal(err)
	}
	der, err := m.encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(der)
	f.Add(der[:len(der)-3])
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, der []byte) {
		k, err := parseSecp256k1PKCS8(der)
		if err != nil {
			return
		}
		// Whatever parses is a usable key that survives a round trip.
		again, err := marshalSecp256k1PKCS8(k)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := parseSecp256k1PKCS8(again)
		if err != nil || !k2.k.PubKey().IsEqual(k.k.PubKey()) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
