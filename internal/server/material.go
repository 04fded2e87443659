package server

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/seal"
)

func rootKeyInEnv() bool { return os.Getenv(RootKeyEnv) != "" }

// loadRootKey returns the root key from --root-key, the environment, or (in
// dev mode) DataDir/root.key, creating that file on first start.
func loadRootKey(c *Config) (seal.RootKey, bool, error) {
	switch {
	case c.RootKeyFile != "":
		k, err := seal.LoadRootKeyFile(c.RootKeyFile)
		if err != nil {
			return seal.RootKey{}, false, fmt.Errorf("--root-key: %w", err)
		}
		return k, false, nil
	case rootKeyInEnv():
		k, err := seal.ParseRootKey(os.Getenv(RootKeyEnv))
		if err != nil {
			return seal.RootKey{}, false, fmt.Errorf("%s: %w", RootKeyEnv, err)
		}
		return k, false, nil
	}
	path := filepath.Join(c.DataDir, "root.key")
	k, err := seal.LoadRootKeyFile(path)
	if err == nil {
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return seal.RootKey{}, false, fmt.Errorf("dev root key %s: %w", path, err)
	}
	k, err = seal.GenerateRootKeyFile(path)
	if err != nil {
		return seal.RootKey{}, false, fmt.Errorf("create dev root key: %w", err)
	}
	return k, true, nil
}

// loadPreviousRootKeys returns the keys of --previous-root-key and
// PreviousRootKeysEnv, in that order; errors name the file or the entry,
// never a key.
func loadPreviousRootKeys(c *Config) ([]seal.RootKey, error) {
	var keys []seal.RootKey
	for _, f := range c.PreviousRootKeyFiles {
		k, err := seal.LoadRootKeyFile(f)
		if err != nil {
			return nil, fmt.Errorf("--previous-root-key: %w", err)
		}
		keys = append(keys, k)
	}
	if env := os.Getenv(PreviousRootKeysEnv); strings.TrimSpace(env) != "" {
		for i, part := range strings.Split(env, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			k, err := seal.ParseRootKey(part)
			if err != nil {
				return nil, fmt.Errorf("%s entry %d: %w", PreviousRootKeysEnv, i+1, err)
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// newRootKeyring loads the current and previous root keys of c. Its
// errors for a blob of a key it does not hold tell the operator how to
// give the node that key.
func newRootKeyring(c *Config) (*seal.Keyring, bool, error) {
	current, created, err := loadRootKey(c)
	if err != nil {
		return nil, false, err
	}
	previous, err := loadPreviousRootKeys(c)
	if err != nil {
		return nil, false, err
	}
	ring, err := seal.NewKeyring(current, previous...)
	if err != nil {
		return nil, false, err
	}
	hint := "start the node with that key's file as --previous-root-key FILE (or its value in " + PreviousRootKeysEnv +
		") until `portcullis vault rekey` has re-sealed everything under the current key"
	return ring.WithMissingKeyHint(hint), created, nil
}

// devTLS holds the paths of the development CA and server certificate.
type devTLS struct {
	CAFile, CAKeyFile, CertFile, KeyFile string
}

func devTLSPaths(dataDir string) devTLS {
	d := filepath.Join(dataDir, "tls")
	return devTLS{
		CAFile:    filepath.Join(d, "ca.pem"),
		CAKeyFile: filepath.Join(d, "ca-key.pem"),
		CertFile:  filepath.Join(d, "server.pem"),
		KeyFile:   filepath.Join(d, "server-key.pem"),
	}
}

// ensureDevTLS creates the local CA and a server certificate for localhost,
// 127.0.0.1 and ::1 (plus the listen host) and, for the vault's host form
// (https://{vault}.localhost:PORT), one explicit name per vault in vaults:
// clients such as curl, OpenSSL and Python refuse a *.localhost wildcard.
// It creates them on first start and reissues the server certificate when
// it is missing, within 30 days of expiry, or lacks one of those names (a
// vault created since).
func ensureDevTLS(dataDir, listenHost string, vaults []string, now time.Time) (devTLS, bool, error) {
	p := devTLSPaths(dataDir)
	if err := os.MkdirAll(filepath.Dir(p.CAFile), 0o700); err != nil {
		return p, false, fmt.Errorf("create %s: %w", filepath.Dir(p.CAFile), err)
	}
	created := false
	ca, caKey, err := readCertAndKey(p.CAFile, p.CAKeyFile)
	if errors.Is(err, fs.ErrNotExist) {
		ca, caKey, err = pki.NewCA("Portcullis development CA", 10*365*24*time.Hour, now)
		if err != nil {
			return p, false, err
		}
		if err := writeCertAndKey(p.CAFile, p.CAKeyFile, ca, caKey); err != nil {
			return p, false, err
		}
		created = true
	} else if err != nil {
		return p, false, fmt.Errorf("dev CA: %w", err)
	}
	hosts := devTLSHosts(listenHost, vaults)
	leaf, _, err := readCertAndKey(p.CertFile, p.KeyFile)
	if err == nil && !created && now.Add(30*24*time.Hour).Before(leaf.NotAfter) && leaf.CheckSignatureFrom(ca) == nil && coversNames(leaf, hosts) {
		return p, false, nil
	}
	cert, key, err := pki.NewServerCertificate(ca, caKey, hosts, 365*24*time.Hour, now)
	if err != nil {
		return p, false, err
	}
	if err := writeCertAndKey(p.CertFile, p.KeyFile, cert, key); err != nil {
		return p, false, err
	}
	return p, true, nil
}

// devTLSHosts lists the names of the development server certificate:
// localhost, the loopback addresses, the listen host, and VAULT.localhost
// (and VAULT.LISTENHOST when it is a DNS name) for every vault.
func devTLSHosts(listenHost string, vaults []string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	named := ""
	if listenHost != "" && listenHost != "0.0.0.0" && listenHost != "::" && listenHost != "localhost" && !slices.Contains(hosts, listenHost) {
		hosts = append(hosts, listenHost)
		if net.ParseIP(listenHost) == nil {
			named = strings.ToLower(listenHost)
		}
	}
	for _, v := range vaults {
		v = strings.ToLower(v)
		hosts = append(hosts, v+".localhost")
		if named != "" {
			hosts = append(hosts, v+"."+named)
		}
	}
	return hosts
}

// coversNames reports whether c is valid for every name, each by its exact
// entry (a wildcard does not count: clients refuse *.localhost).
func coversNames(c *x509.Certificate, names []string) bool {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(c.IPAddresses, ip.Equal) {
				return false
			}
		} else if !slices.Contains(c.DNSNames, n) {
			return false
		}
	}
	return true
}

func readCertAndKey(certFile, keyFile string) (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	leaf, _, key, err := pki.ParseCertificateAndKey(append(certPEM, keyPEM...), "")
	if err != nil {
		return nil, nil, fmt.Errorf("%s and %s: %w", certFile, keyFile, err)
	}
	return leaf, key, nil
}

func writeCertAndKey(certFile, keyFile string, cert *x509.Certificate, key crypto.Signer) error {
	keyPEM, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certFile, pki.EncodeCertificatePEM(cert), 0o644)
}

// writeFileAtomic writes through a temporary file and a rename so that a
// crash never leaves a half-written file behind.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
