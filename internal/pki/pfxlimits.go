package pki

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
)

// maxPFXIterations caps the KDF iteration counts a PFX may ask for. go-pkcs12
// runs whatever count the file states, so a crafted upload could otherwise
// pin a CPU for minutes. OpenSSL 3, Windows and Java use 2,000 to 10,000;
// the cap leaves room for PBKDF2 at OWASP's 600,000.
const maxPFXIterations = 1_000_000

// maxPFXTotalIterations caps the sum over the whole file: go-pkcs12 derives
// a key for every encrypted safe, so without it a file of many small safes,
// each under maxPFXIterations, would cost hundreds of times the cap. An
// ordinary PFX has three counts (MAC, certificate safe, key bag).
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

// checkPFXIterations refuses a PFX whose MAC, encrypted safes or shrouded
// key bags in clear safes (RFC 7292 sections 4 and 4.2.2) state more than
// maxPFXIterations each, or more than maxPFXTotalIterations together. Key
// bags inside encrypted safes are only visible after decryption and stay
// unchecked. Structures it cannot read are left for go-pkcs12 to report.
func checkPFXIterations(data []byte) error {
	var total int
	check := func(what string, n int) error {
		if err := checkIterations(what, n); err != nil {
			return err
		}
		if total += max(n, 0); total > maxPFXTotalIterations {
			return fmt.Errorf("PFX uses more than %d KDF iterations in total", maxPFXTotalIterations)
		}
		return nil
	}
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
	if err := checkIterations("MAC", pfx.MacData.Iterations); err != nil {
		return err
	}
	// A PBMAC1 MAC (RFC 9579) takes its count from its parameters and
	// ignores the macData field; count the one that is used.
	macIterations := algorithmIterations(pfx.MacData.Mac.Algorithm)
	if macIterations == 0 {
		macIterations = pfx.MacData.Iterations
	}
	if err := check("MAC", macIterations); err != nil {
		return err
	}
	var authSafe []byte
	if !pfx.AuthSafe.ContentType.Equal(oidData) {
		return nil
	}
	if _, err := asn1.Unmarshal(pfx.AuthSafe.Content.Bytes, &authSafe); err != nil {
		return nil
	}
	var safes []pfxContentInfo
	if _, err := asn1.Unmarshal(authSafe, &safes); err != nil {
		return nil
	}
	for _, ci := range safes {
		switch {
		case ci.ContentType.Equal(oidEncryptedData):
			var ed struct {
				Version int
				Info    struct {
					ContentType asn1.ObjectIdentifier
					Algorithm   pkix.AlgorithmIdentifier
				}
			}
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &ed); err == nil {
				if err := check("encrypted safe", algorithmIterations(ed.Info.Algorithm)); err != nil {
					return err
				}
			}
		case ci.ContentType.Equal(oidData):
			var raw []byte
			var bags []struct {
				ID    asn1.ObjectIdentifier
				Value asn1.RawValue `asn1:"tag:0,explicit"`
			}
			if _, err := asn1.Unmarshal(ci.Content.Bytes, &raw); err != nil {
				continue
			}
			if _, err := asn1.Unmarshal(raw, &bags); err != nil {
				continue
			}
			for _, bag := range bags {
				var epki struct{ Algorithm pkix.AlgorithmIdentifier }
				if bag.ID.Equal(oidShroudedKey) {
					if _, err := asn1.Unmarshal(bag.Value.Bytes, &epki); err == nil {
						if err := check("private key", algorithmIterations(epki.Algorithm)); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	return nil
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

func checkIterations(what string, n int) error {
	if n > maxPFXIterations {
		return fmt.Errorf("PFX %s uses %d KDF iterations, more than the %d allowed", what, n, maxPFXIterations)
	}
	return nil
}
