package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	"github.com/portcullis/portcullis/internal/directory"
)

// AdminCredential is the content of the admin credential file that the CLI
// reads (see internal/adminclient). It is written with mode 0600.
type AdminCredential struct {
	Addr         string `json:"addr"`
	CA           string `json:"ca,omitempty"`
	TenantID     string `json:"tenantId"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	Scope        string `json:"scope"`
}

// bootstrapResult says what the first start created.
type bootstrapResult struct {
	Tenant          directory.Tenant
	ManagementAppID string
	AdminCreated    bool
	// AdminAppIDs are the clients granted Portcullis.Admin (the bootstrap
	// admin client among them); serve makes them Key Vault Administrators
	// of the default vault.
	AdminAppIDs []string
}

func newGUID() string { return strings.ToLower(uuid.NewString()) }

// bootstrap makes sure the default tenant, the management resource with its
// Portcullis.Admin role, and an admin client holding that role exist (the
// directory service does it in one transaction, so nodes starting together
// create each once), and hands a newly created admin credential over in a
// file only the operator can read.
func bootstrap(ctx context.Context, dir *directory.Service, cfg *Config, addr, caFile string) (bootstrapResult, error) {
	b, err := dir.Bootstrap(ctx)
	if err != nil {
		return bootstrapResult{}, err
	}
	res := bootstrapResult{Tenant: b.Tenant, ManagementAppID: b.Management.AppID, AdminAppIDs: b.AdminAppIDs}
	if b.AdminClient == nil {
		if !cfg.Dev || filepath.Dir(cfg.AdminCredentialFile) != cfg.DataDir {
			return res, nil // only a dev server's own DATA/admin.json follows it
		}
		return res, updateAdminCredentialAddr(cfg.AdminCredentialFile, addr, caFile)
	}
	cred := AdminCredential{Addr: addr, CA: caFile, TenantID: b.Tenant.ID, ClientID: b.AdminClient.AppID, ClientSecret: b.AdminSecret.Text, Scope: directory.ManagementIdentifierURI + "/.default"}
	js, _ := json.MarshalIndent(cred, "", "  ")
	if err := os.MkdirAll(filepath.Dir(cfg.AdminCredentialFile), 0o700); err != nil {
		return res, fmt.Errorf("bootstrap: %w", err)
	}
	if err := writeFileAtomic(cfg.AdminCredentialFile, append(js, '\n'), 0o600); err != nil {
		return res, fmt.Errorf("bootstrap: write admin credential: %w", err)
	}
	res.AdminCreated = true
	return res, nil
}

// updateAdminCredentialAddr points an existing admin credential file at the
// address and CA of this development start, so that the CLI finds the server after
// --listen or --public-url changed. A missing file (handed over and
// removed, or another node wrote it) is left alone, and so is one this
// start cannot parse (the CLI says what is wrong with it).
func updateAdminCredentialAddr(path, addr, caFile string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	if m["addr"] == addr && (caFile == "" || m["ca"] == caFile) {
		return nil
	}
	m["addr"] = addr
	if caFile != "" {
		m["ca"] = caFile
	}
	js, _ := json.MarshalIndent(m, "", "  ")
	if err := writeFileAtomic(path, append(js, '\n'), 0o600); err != nil {
		return fmt.Errorf("bootstrap: update the address in the admin credential: %w", err)
	}
	return nil
}
