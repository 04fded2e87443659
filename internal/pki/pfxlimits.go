package pki

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// maxPFXIterations caps the KDF iteration counts a PFX may ask for. go-pkcs12
// runs whatever count the file states, so a crafted upload could otherwise
// pin a CPU for minutes. OpenSSL 3, Windows and Java use 2,000 to 10,000;
// the cap leaves room for PBKDF2 at OWASP's 600,000.
const maxPFXIterations = 1_000_000

// maxPFXTotalIterations caps the key-derivation work of one upload: the
// sum of the iteration counts of the MAC, of every encrypted safe and of
// every shrouded key bag, those inside encrypted safes included. An
// ordinary PFX has three counts (MAC, certificate safe, key bag); without
// a total, a file of many items, each under maxPFXIterations, would cost
// many times the cap. The caps bound the counts a file states; the CPU
// spent is a small multiple of them (checkPFXWork derives each safe's key
// once itself, PKCS#12 PBE derives key and IV separately, and decodePFX may
// call go-pkcs12 twice).
const maxPFXTotalIterations = 4 * maxPFXIterations

var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidEncryptedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 6}
	oidShroudedKey   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 12, 10, 1, 2}
)

type pfxContentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0,explicit,optional"`
}

type pfxSafeBag struct {
	ID    asn1.ObjectIdentifier
	Value asn1.RawValue `asn1:"tag:0,explicit"`
}

// pfxWork adds up the iteration counts of a PFX against the caps.
type pfxWork struct{ total int }

func (w *pfxWork) add(what string, n int) error {
	if n > maxPFXIterations {
		return fmt.Errorf("PFX %s uses %d key-derivation iterations, more than the %d allowed; re-export it with fewer (OpenSSL 3 uses 2,048)", what, n, maxPFXIterations)
	}
	if w.total += max(n, 0); w.total > maxPFXTotalIterations {
		return fmt.Errorf("PFX needs more than %d key-derivation iterations in total (MAC, encrypted safes and key bags together); re-export it with fewer iterations or fewer items", maxPFXTotalIterations)
	}
	return nil
}

// bags counts the shrouded key bags among bags (RFC 7292 section 4.2.2).
// go-pkcs12 ignores nested SafeContents bags, so they cost nothing.
func (w *pfxWork) bags(bags []pfxSafeBag) error {
	for _, bag := range bags {
		if !bag.ID.Equal(oidShroudedKey) {
			continue
		}
		var epki struct{ Algorithm pkix.AlgorithmIdentifier }
		if _, err := asn1.Unmarshal(bag.Value.Bytes, &epki); err == nil {
			if err := w.add("private key", algorithmIterations(epki.Algorithm)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPFXWork bounds the key-derivation work that decoding data with
// password will cost, before go-pkcs12 does any of it: go-pkcs12 runs
// whatever iteration counts the file states. It refuses a PFX whose MAC,
// encrypted safes or shrouded key bags (RFC 7292 sections 4 and 4.2.2)
// state more than maxPFXIterations each, or more than
// maxPFXTotalIterations together.
//
// Key bags inside an encrypted safe are visible only after decryption, so
// it counts the safe's own iterations first, then decrypts the safe itself
// (as go-pkcs12 would, with the same password or, for an empty password,
// go-pkcs12's two spellings of it) and counts the bags inside before any of
// their keys is derived. A safe it cannot open is refused: go-pkcs12 could
// not open it either. Other structures it cannot read are left for
// go-pkcs12 to report.
func checkPFXWork(data []byte, password string) error {
	var pfx struct {
		Version  int
		AuthSafe pfxContentInfo
		MacData  struct {
			Mac struct {
				Algorithm pkix.AlgorithmIdentifier
				Digest    []byte
			}
			MacSalt    []byte
			Iterations int `asn1:"optional,default:1"`
		} `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(data, &pfx); err != nil {
		return nil
	}
	passwords := [][]byte{nil}
	if enc, ok := bmpPassword(password); ok {
		passwords[0] = enc
		if password == "" {
			// go-pkcs12 retries a failed MAC with an empty byte string and
			// then decrypts with whichever verified.
			passwords = append(passwords, nil)
		}
	} else {
		return nil // go-pkcs12 refuses the password before any work
	}
	var w pfxWork
	if pfx.MacData.Iterations > maxPFXIterations {
		return w.add("MAC", pfx.MacData.Iterations)
	}
	// A PBMAC1 MAC (RFC 9579) takes its count from its parameters and
	// ignores the macData field; count the one that is used, once per
	// password go-pkcs12 may try.
	macIterations := algorithmIterations(pfx.MacData.Mac.Algorithm)
	if macIterations == 0 {
		macIterations = pfx.MacData.Iterations
	}
	if len(pfx.MacData.Mac.Algorithm.Algorithm) > 0 {
		for range passwords {
			if err := w.add("MAC", macIterations); err != nil {
				return err
			}
		}
	}
	if !pfx.AuthSafe.ContentType.Equal(oidData) {
		return nil
	}
	// go-pkcs12 takes the authenticated safe's content from any element,
	// not only an OCTET STRING; so does this.
	var authSafe asn1.RawValue
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return nil
	}
	var safes []pfxContentInfo
	if _, err := asn1.Unmarshal(authSafe.Bytes, &safes); err != nil {
		return nil
	}
	// Count what is visible first (the MAC, every encrypted safe and the
	// key bags of clear safes), so that no safe is decrypted when the
	// visible work alone is over the caps; then open the encrypted safes.
	type encrypted struct {
		n          int
		alg        pkix.AlgorithmIdentifier
		ciphertext []byte
	}
	var sealed []encrypted
	for i, ci := range safes {
		switch {
		case ci.ContentType.Equal(oidEncryptedData):
			var ed struct {
				Version int
				Info    struct {
					ContentType asn1.ObjectIdentifier
					Algorithm   pkix.AlgorithmIdentifier
					Content     []byte `asn1:"tag:0,optional"`
				}
			}
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err != nil {
				continue
			}
			if err := w.add("encrypted safe", algorithmIterations(ed.Info.Algorithm)); err != nil {
				return err
			}
			sealed = append(sealed, encrypted{i + 1, ed.Info.Algorithm, ed.Info.Content})
		case ci.ContentType.Equal(oidData):
			var raw []byte
			var bags []pfxSafeBag
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &raw); err != nil {
				continue
			}
			if _, err := asn1.Unmarshal(raw, &bags); err != nil {
				continue
			}
			if err := w.bags(bags); err != nil {
				return err
			}
		}
	}
	for _, e := range sealed {
		if err := w.encryptedSafe(e.n, e.alg, e.ciphertext, passwords); err != nil {
			return err
		}
	}
	return nil
}

// encryptedSafe decrypts safe number n with every password go-pkcs12 may
// use and counts the key bags of each plaintext that reads as bags.
func (w *pfxWork) encryptedSafe(n int, alg pkix.AlgorithmIdentifier, ciphertext []byte, passwords [][]byte) error {
	opened, malformed := false, false
	for _, pw := range passwords {
		plain, err := pfxDecrypt(alg, ciphertext, pw)
		if errors.Is(err, errPFXUnsupported) {
			return fmt.Errorf("PFX safe %d: %w", n, err)
		}
		if err != nil {
			malformed = malformed || !errors.Is(err, errPFXDecrypt)
			continue
		}
		var bags []pfxSafeBag
		if _, err := asn1.Unmarshal(plain, &bags); err != nil {
			// A wrong key passes the padding check one time in about
			// 256 and yields noise: a wrong password, like bad padding.
			continue
		}
		// When both spellings of an empty password open the safe, both
		// plaintexts count: go-pkcs12 will use one of them.
		opened = true
		if err := w.bags(bags); err != nil {
			return err
		}
	}
	switch {
	case opened:
		return nil
	case malformed:
		return fmt.Errorf("PFX safe %d is malformed: its encryption parameters cannot be read", n)
	}
	return ErrWrongPassword
}

// algorithmIterations reads the iteration count of PKCS#12 PBE parameters
// (RFC 7292 appendix C) or of the PBKDF2 parameters of PBES2 / PBMAC1
// (RFC 8018 appendix A.2 and A.4), whichever alg carries; 0 when it carries
// neither.
func algorithmIterations(alg pkix.AlgorithmIdentifier) int {
	var pbe struct {
		Salt       []byte
		Iterations int
	}
	if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &pbe); err == nil {
		return pbe.Iterations
	}
	var pbes2 struct{ KDF pkix.AlgorithmIdentifier }
	if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &pbes2); err != nil {
		return 0
	}
	var pbkdf2 struct {
		Salt       asn1.RawValue
		Iterations int
	}
	if _, err := asn1.Unmarshal(pbes2.KDF.Parameters.FullBytes, &pbkdf2); err != nil {
		return 0
	}
	return pbkdf2.Iterations
}
