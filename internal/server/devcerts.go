package server

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/portcullis/portcullis/internal/vault"
)

// vaultLister is what the development certificate needs of the store: the
// names of the vaults (read from the store, not through the vault service,
// so that the check leaves no audit record).
type vaultLister interface {
	ListVaults(ctx context.Context) ([]vault.Vault, error)
}

// devCertificates keeps the development server certificate (DATA/tls)
// naming VAULT.localhost for every vault, so that the host form of a vault
// created after the start works with clients that refuse a *.localhost
// wildcard. The listener picks a reissued file up on the next handshake.
type devCertificates struct {
	dataDir, listenHost string
	vaults              vaultLister
	log                 *slog.Logger
}

// ensure creates or reissues the certificate for the vaults stored now.
func (d *devCertificates) ensure(ctx context.Context, now time.Time) (devTLS, error) {
	vs, err := d.vaults.ListVaults(ctx)
	if err != nil {
		return devTLS{}, err
	}
	names := []string{vault.DefaultVault}
	for _, v := range vs {
		if v.Name != vault.DefaultVault {
			names = append(names, v.Name)
		}
	}
	p, reissued, err := ensureDevTLS(d.dataDir, d.listenHost, names, now)
	if err == nil && reissued {
		d.log.Info("issued the development TLS certificate", "file", p.CertFile, "vaults", len(names))
	}
	return p, err
}

// run checks every interval until ctx ends; a failure (database
// unreachable) is logged and retried.
func (d *devCertificates) run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if _, err := d.ensure(cctx, time.Now()); err != nil && ctx.Err() == nil {
				d.log.Debug("development TLS certificate not checked", "err", err)
			}
			cancel()
		}
	}
}

// devPublicURL is the public URL of a development server without
// --public-url: https://localhost:PORT, the one name its certificate, the
// issuer and the printed URLs share whatever address it listens on.
func devPublicURL(listen string) string {
	_, port, _ := net.SplitHostPort(listen)
	return "https://" + net.JoinHostPort("localhost", port)
}
