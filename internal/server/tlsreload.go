package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// certificateReloader serves the TLS certificate from files and re-reads
// them when they change on disk, so a renewed certificate is picked up
// without a restart. A file pair that fails to load keeps the previous
// certificate in service and is logged.
type certificateReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	cert atomic.Pointer[tls.Certificate]
	mu   sync.Mutex // serialises checks
	mod  time.Time  // newest modification time of the pair when loaded
	next atomic.Int64
}

func newCertificateReloader(certFile, keyFile string, log *slog.Logger) (*certificateReloader, error) {
	r := &certificateReloader{certFile: certFile, keyFile: keyFile, log: log}
	c, mod, err := loadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cert.Store(c)
	r.mod = mod
	return r, nil
}

// GetCertificate is a tls.Config.GetCertificate callback; it checks the
// files at most every ten seconds.
func (r *certificateReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now()
	if now.UnixNano() >= r.next.Load() && r.mu.TryLock() {
		r.next.Store(now.Add(10 * time.Second).UnixNano())
		if mod := newestModTime(r.certFile, r.keyFile); mod.After(r.mod) {
			if c, m, err := loadKeyPair(r.certFile, r.keyFile); err != nil {
				r.log.Warn("TLS certificate changed on disk but cannot be loaded; still serving the previous one", "err", err)
			} else {
				r.cert.Store(c)
				r.mod = m
				r.log.Info("TLS certificate reloaded", "file", r.certFile, "notAfter", c.Leaf.NotAfter)
			}
		}
		r.mu.Unlock()
	}
	return r.cert.Load(), nil
}

func newestModTime(files ...string) time.Time {
	var t time.Time
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.ModTime().After(t) {
			t = st.ModTime()
		}
	}
	return t
}

func loadKeyPair(certFile, keyFile string) (*tls.Certificate, time.Time, error) {
	mod := newestModTime(certFile, keyFile)
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, mod, fmt.Errorf("TLS certificate %s / key %s: %w", certFile, keyFile, err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, mod, fmt.Errorf("TLS certificate %s: %w", certFile, err)
	}
	c.Leaf = leaf
	return &c, mod, nil
}
