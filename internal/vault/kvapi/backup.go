package kvapi

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/vault"
)

// backupBody is Key Vault's BackupSecretResult (and key, certificate) and
// the body of the restore operations: {"value": base64url blob}.
type backupBody struct {
	Value *string `json:"value"`
}

// maxRestoreBodyBytes fits the base64url form of the largest backup with
// room for the JSON around it.
const maxRestoreBodyBytes = int64(vault.MaxBackupBytes/3*4 + 4096)

// parseRestore reads a restore body: {"value": base64url}, padded or not.
func parseRestore(body []byte) ([]byte, error) {
	var in backupBody
	if err := decodeJSON(body, &in); err != nil {
		return nil, err
	}
	if in.Value == nil || *in.Value == "" {
		return nil, badParameter("The member \"value\" (the base64url backup blob returned by the backup operation) is missing.")
	}
	blob, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(*in.Value, "="))
	if err != nil || len(blob) == 0 {
		return nil, badParameter("The member \"value\" is not base64url: send the blob exactly as the backup operation returned it.")
	}
	return blob, nil
}

// backup serves POST /{secrets,keys,certificates}/{name}/backup.
func (rq *request) backup(typ vault.ObjectType, name string) {
	rq.route("POST /" + string(typ) + "/{name}/backup")
	if !rq.allow(http.MethodPost) {
		return
	}
	c, v, ctx, s := rq.caller, rq.t.vault, rq.r.Context(), rq.h.cfg.Vault
	var blob []byte
	var err error
	switch typ {
	case vault.Secrets:
		blob, err = s.BackupSecret(ctx, c, v, name)
	case vault.Keys:
		blob, err = s.BackupKey(ctx, c, v, name)
	case vault.Certificates:
		blob, err = s.BackupCertificate(ctx, c, v, name)
	}
	if err != nil {
		rq.fail(err)
		return
	}
	out := base64.RawURLEncoding.EncodeToString(blob)
	rq.reply(http.StatusOK, backupBody{Value: &out})
}

// restore serves POST /{secrets,keys,certificates}/restore.
func (rq *request) restore(typ vault.ObjectType) {
	rq.route("POST /" + string(typ) + "/restore")
	b, err := rq.readBodyUpTo(max(rq.h.cfg.MaxBodyBytes, maxRestoreBodyBytes), fmt.Sprintf("a backup holds at most %d bytes", vault.MaxBackupBytes))
	if err != nil {
		rq.fail(err)
		return
	}
	blob, err := parseRestore(b)
	if err != nil {
		rq.fail(err)
		return
	}
	c, v, ctx, s := rq.caller, rq.t.vault, rq.r.Context(), rq.h.cfg.Vault
	switch typ {
	case vault.Secrets:
		sec, err := s.RestoreSecret(ctx, c, v, blob)
		rq.ok(rq.secretBundle(sec, false), err)
	case vault.Keys:
		k, err := s.RestoreKey(ctx, c, v, blob)
		rq.ok(rq.keyBundle(k), err)
	case vault.Certificates:
		cert, err := s.RestoreCertificate(ctx, c, v, blob)
		rq.ok(rq.certificateBundle(cert), err)
	}
}
