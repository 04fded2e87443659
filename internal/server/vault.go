package server

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/portcullis/portcullis/guard"
	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/vault"
)

// VaultIdentifierURI is the stable identifier URI of the built-in vault
// resource application (see directory.VaultIdentifierURI).
const VaultIdentifierURI = directory.VaultIdentifierURI

// vaultAppName is the display name of the built-in vault resource.
const vaultAppName = "Portcullis Vault"

// vaultMaintenanceLease elects the node that runs lifetime actions and purges.
const vaultMaintenanceLease = "vault-maintenance"

// vaultBases returns the base URLs ("https://host:port") the vault is
// reached under: the public URL; else the listen address, plus
// https://localhost:PORT and https://127.0.0.1:PORT when it listens on a
// loopback or wildcard address (or in dev mode). The Key Vault challenge
// names one of them as resource, so each must be an identifier URI of the
// vault resource application.
func vaultBases(cfg Config, addr string) []string {
	if cfg.PublicURL != "" {
		return []string{cfg.PublicURL}
	}
	bases := []string{addr}
	u, err := url.Parse(addr)
	if err != nil {
		return bases
	}
	host, port := u.Hostname(), u.Port()
	listenHost, _, _ := net.SplitHostPort(cfg.Listen)
	ip := net.ParseIP(listenHost)
	local := cfg.Dev || listenHost == "" || listenHost == "localhost" || ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
	if local && port != "" {
		for _, h := range []string{"localhost", "127.0.0.1"} {
			if b := "https://" + net.JoinHostPort(h, port); !strings.EqualFold(h, host) && !slices.Contains(bases, b) {
				bases = append(bases, b)
			}
		}
	}
	return bases
}

// baseHosts returns the host:port part of each base URL.
func baseHosts(bases []string) []string {
	var out []string
	for _, b := range bases {
		if u, err := url.Parse(b); err == nil && u.Host != "" {
			out = append(out, strings.ToLower(u.Host))
		}
	}
	return out
}

// ensureVaultApp makes sure the vault resource application exists in the
// tenant with identifier URIs VaultIdentifierURI and bases. An identifier
// URI of an earlier start on one of the same host names (another port) is
// dropped; others (other nodes' addresses, an earlier --public-url, URIs an
// administrator added) are kept.
func ensureVaultApp(ctx context.Context, dir *directory.Service, tenantID string, bases []string) (directory.Application, error) {
	app, err := dir.EnsureApplication(ctx, tenantID, VaultIdentifierURI, vaultAppName, func(have []string) []string {
		return vaultIdentifierURIs(bases, have)
	})
	if err != nil {
		return directory.Application{}, fmt.Errorf("bootstrap: the vault resource application: %w (or set --public-url)", err)
	}
	return app, nil
}

// vaultIdentifierURIs is VaultIdentifierURI, then bases, then the URIs of
// have that are neither of those nor a base URL on one of bases' host
// names (a previous port).
func vaultIdentifierURIs(bases, have []string) []string {
	out := append([]string{VaultIdentifierURI}, bases...)
	hosts := map[string]bool{}
	for _, b := range bases {
		if u, err := url.Parse(b); err == nil {
			hosts[strings.ToLower(u.Hostname())] = true
		}
	}
	for _, h := range have {
		if slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, h) }) {
			continue
		}
		if u, err := url.Parse(h); err == nil && u.Scheme == "https" && hosts[strings.ToLower(u.Hostname())] && (u.Path == "" || u.Path == "/") {
			continue
		}
		out = append(out, h)
	}
	return out
}

// assignVaultAdministrators makes each admin client a Key Vault
// Administrator of the default vault (once), so that the CLI's admin
// credential can use the vault.
func assignVaultAdministrators(ctx context.Context, svc *vault.Service, appIDs []string) error {
	admin := vault.Caller{Principal: guard.Principal{AppID: "portcullis-bootstrap"}, Admin: true}
	have, err := svc.ListRoleAssignments(ctx, admin, vault.DefaultVault)
	if err != nil {
		return fmt.Errorf("bootstrap: list vault role assignments: %w", err)
	}
	for _, id := range appIDs {
		if slices.ContainsFunc(have, func(a vault.RoleAssignment) bool {
			return strings.EqualFold(a.PrincipalID, id) && a.Role == vault.RoleAdministrator && a.Scope == ""
		}) {
			continue
		}
		_, err := svc.AssignRole(ctx, admin, vault.RoleAssignment{Vault: vault.DefaultVault, PrincipalID: id, Role: vault.RoleAdministrator})
		if err != nil && !vault.IsKind(err, vault.KindConflict) {
			return fmt.Errorf("bootstrap: make %s Key Vault Administrator of the default vault: %w", id, err)
		}
	}
	return nil
}

// vaultNotifier builds the lifetime notifier: the log, plus the webhook
// when configured.
func vaultNotifier(cfg Config, log *slog.Logger) (vault.Notifier, error) {
	logN := vault.LogNotifier{Logger: log}
	if cfg.VaultWebhookURL == "" {
		return logN, nil
	}
	var secret []byte
	if cfg.VaultWebhookSecretFile != "" {
		b, err := os.ReadFile(cfg.VaultWebhookSecretFile)
		if err != nil {
			return nil, fmt.Errorf("--vault-webhook-secret-file: %w", err)
		}
		secret = bytes.TrimRight(b, "\r\n")
	} else {
		secret = []byte(os.Getenv(VaultWebhookSecretEnv))
	}
	if len(secret) < 16 {
		src := "--vault-webhook-secret-file " + cfg.VaultWebhookSecretFile
		if cfg.VaultWebhookSecretFile == "" {
			src = VaultWebhookSecretEnv
		}
		return nil, fmt.Errorf("%s: the webhook secret has %d bytes; use at least 16 random bytes (e.g. openssl rand -base64 32)", src, len(secret))
	}
	wh, err := vault.NewWebhookNotifier(cfg.VaultWebhookURL, secret, 10*time.Second, nil)
	if err != nil {
		return nil, fmt.Errorf("--vault-webhook-url: %w", err)
	}
	return vault.MultiNotifier{logN, wh}, nil
}

// vaultCloseTimeout bounds how long shutdown waits for the vault's queued
// audit records to be written.
const vaultCloseTimeout = 15 * time.Second

// runVaultMaintenance runs certificate lifetime actions and purges of
// expired deletions every interval on the node holding the lease, until
// ctx ends; then it closes the vault's audit writer. Serve ends ctx after
// the HTTP server has shut down (in-flight requests finished) and waits for
// this goroutine before closing the store, so the audit records of reads
// still queued are written on a graceful stop.
func (s *Server) runVaultMaintenance(ctx context.Context, interval time.Duration) {
	defer s.closeVault()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.vaultMaintenance(ctx, interval)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// closeVault writes the vault's queued audit records and stops its writer.
func (s *Server) closeVault() {
	ctx, cancel := context.WithTimeout(context.Background(), vaultCloseTimeout)
	defer cancel()
	if err := s.vault.Close(ctx); err != nil {
		s.log.Error("vault audit records queued at shutdown were not all written", "err", err)
	}
}

func (s *Server) vaultMaintenance(ctx context.Context, interval time.Duration) {
	rctx, cancel := context.WithTimeout(ctx, max(interval, time.Minute))
	defer cancel()
	ok, err := s.store.TryLease(rctx, vaultMaintenanceLease, s.nodeID, 2*interval, time.Now())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("vault maintenance: lease not acquired", "err", err)
		}
		return
	}
	if !ok {
		return
	}
	if n, err := s.vault.ResumeCertificateOperations(rctx); err != nil {
		s.log.Warn("vault certificate operations left by a stopped node were not all resumed; they are retried next run", "err", err, "resumed", n)
	} else if n > 0 {
		s.log.Info("vault resumed certificate operations left by a stopped node", "resumed", n)
	}
	rep, err := s.vault.RunLifetimeActions(rctx)
	if err != nil {
		s.log.Warn("vault lifetime actions (certificates, key rotation) failed in part; they are retried next run", "err", err, "failed", rep.Failed)
	}
	if rep.Notified+rep.Renewed+rep.Rotated > 0 {
		s.log.Info("vault lifetime actions", "certificates", rep.Certificates, "keys", rep.Keys, "notified", rep.Notified, "renewed", rep.Renewed, "rotated", rep.Rotated)
	}
	n, err := s.vault.PurgeExpiredDeletions(rctx)
	if err != nil {
		s.log.Warn("vault purge of expired deletions failed in part", "err", err, "purged", n)
	} else if n > 0 {
		s.log.Info("vault purged deleted objects past their retention", "purged", n)
	}
}
