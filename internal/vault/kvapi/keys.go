package kvapi

import (
	"net/http"

	"github.com/portcullis/portcullis/internal/vault"
)

// keyBundle is Key Vault's KeyBundle / DeletedKeyBundle.
type keyBundle struct {
	Key        vault.JSONWebKey  `json:"key"`
	Attributes wireAttributes    `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	Managed    bool              `json:"managed,omitempty"`
	deletion
}

// keyItem is Key Vault's KeyItem / DeletedKeyItem.
type keyItem struct {
	KID        string            `json:"kid"`
	Attributes wireAttributes    `json:"attributes"`
	Tags       map[string]string `json:"tags,omitempty"`
	Managed    bool              `json:"managed,omitempty"`
	deletion
}

// keyOperationResult is Key Vault's KeyOperationResult.
type keyOperationResult struct {
	KID   string          `json:"kid"`
	Value vault.Base64URL `json:"value"`
	IV    vault.Base64URL `json:"iv,omitempty"`
	Tag   vault.Base64URL `json:"tag,omitempty"`
	AAD   vault.Base64URL `json:"aad,omitempty"`
}

// keyVerifyResult is Key Vault's KeyVerifyResult.
type keyVerifyResult struct {
	Value bool `json:"value"`
}

func (rq *request) keyBundle(k vault.Key) keyBundle {
	pub := k.JWK
	// Only public members leave the vault, whatever the service returned.
	pub.D, pub.DP, pub.DQ, pub.QI, pub.P, pub.Q, pub.T, pub.K = nil, nil, nil, nil, nil, nil, nil, nil
	pub.KID = rq.objectID("keys", k.Name, k.Version)
	return keyBundle{Key: pub, Attributes: attributesToWire(k.Attributes), Tags: k.Tags, Managed: k.Managed, deletion: rq.deletionOf(vault.Keys, k.Name, k.Deleted)}
}

func (rq *request) keyItem(k vault.Key, withVersion bool) keyItem {
	version := ""
	if withVersion {
		version = k.Version
	}
	return keyItem{KID: rq.objectID("keys", k.Name, version), Attributes: attributesToWire(k.Attributes), Tags: k.Tags, Managed: k.Managed, deletion: rq.deletionOf(vault.Keys, k.Name, k.Deleted)}
}

const noKeyRelease = "Key release and attestation are not supported by Portcullis: they need hardware attestation (a managed HSM); keys never leave the vault."

// keys serves /keys and everything below it.
func (rq *request) keys(segs []string) {
	c, v := rq.caller, rq.t.vault
	ctx := rq.r.Context()
	s := rq.h.cfg.Vault
	switch {
	case len(segs) == 0:
		rq.route("GET /keys")
		if !rq.allow(http.MethodGet) {
			return
		}
		p, err := rq.pageRequest("keys")
		if err != nil {
			rq.fail(err)
			return
		}
		page, err := s.ListKeys(ctx, c, v, p)
		replyList(rq, "keys", p, page, err, false, rq.keyItem)
	case len(segs) == 1 && segs[0] == "restore" && rq.r.Method == http.MethodPost:
		rq.restore(vault.Keys)
	case len(segs) == 1:
		name := segs[0]
		rq.route(rq.r.Method + " /keys/{name}")
		if !rq.allow(http.MethodPut, http.MethodGet, http.MethodPatch, http.MethodDelete) {
			return
		}
		switch rq.r.Method {
		case http.MethodPut:
			in, ok := body(rq, parseKeyImport)
			if !ok {
				return
			}
			k, err := s.ImportKey(ctx, c, v, name, in)
			rq.ok(rq.keyBundle(k), err)
		case http.MethodGet:
			k, err := s.GetKey(ctx, c, v, name, "")
			rq.ok(rq.keyBundle(k), err)
		case http.MethodPatch:
			rq.updateKey(name, "")
		case http.MethodDelete:
			k, err := s.DeleteKey(ctx, c, v, name)
			rq.ok(rq.keyBundle(k), err)
		}
	case len(segs) == 2:
		name, action := segs[0], segs[1]
		switch action {
		case "create":
			rq.route("POST /keys/{name}/create")
			if !rq.allow(http.MethodPost) {
				return
			}
			in, ok := body(rq, parseKeyCreate)
			if !ok {
				return
			}
			k, err := s.CreateKey(ctx, c, v, name, in)
			rq.ok(rq.keyBundle(k), err)
		case "versions":
			rq.route("GET /keys/{name}/versions")
			if !rq.allow(http.MethodGet) {
				return
			}
			listing := "keys/" + name + "/versions"
			p, err := rq.pageRequest(listing)
			if err != nil {
				rq.fail(err)
				return
			}
			page, err := s.ListKeyVersions(ctx, c, v, name, p)
			replyList(rq, listing, p, page, err, true, rq.keyItem)
		case "sign", "verify", "encrypt", "decrypt", "wrapkey", "unwrapkey", "release", "attestation":
			// The SDK joins an empty version away: /keys/{name}/sign.
			rq.keyOperation(name, "", action)
		case "backup":
			rq.backup(vault.Keys, name)
		case "rotate":
			rq.route("POST /keys/{name}/rotate")
			if !rq.allow(http.MethodPost) {
				return
			}
			k, err := s.RotateKey(ctx, c, v, name)
			rq.ok(rq.keyBundle(k), err)
		case "rotationpolicy":
			rq.keyRotationPolicy(name)
		default:
			rq.route(rq.r.Method + " /keys/{name}/{version}")
			if !rq.allow(http.MethodGet, http.MethodPatch) {
				return
			}
			if rq.r.Method == http.MethodPatch {
				rq.updateKey(name, action)
				return
			}
			k, err := s.GetKey(ctx, c, v, name, action)
			rq.ok(rq.keyBundle(k), err)
		}
	case len(segs) == 3:
		rq.keyOperation(segs[0], segs[1], segs[2])
	default:
		rq.notFound()
	}
}

func (rq *request) updateKey(name, version string) {
	u, ok := body(rq, parseKeyUpdate)
	if !ok {
		return
	}
	k, err := rq.h.cfg.Vault.UpdateKey(rq.r.Context(), rq.caller, rq.t.vault, name, version, u)
	rq.ok(rq.keyBundle(k), err)
}

// keyOperation serves POST /keys/{name}/{version}/{op}; version may be empty.
func (rq *request) keyOperation(name, version, op string) {
	switch op {
	case "sign", "verify", "encrypt", "decrypt", "wrapkey", "unwrapkey":
	case "release", "attestation":
		rq.route("/keys/{name}/{version}/" + op)
		rq.fail(notImplemented(noKeyRelease))
		return
	default:
		rq.notFound()
		return
	}
	rq.route("POST /keys/{name}/{version}/" + op)
	if !rq.allow(http.MethodPost) {
		return
	}
	b, err := rq.readBody()
	if err != nil {
		rq.fail(err)
		return
	}
	in, err := parseKeyOperation(op, b)
	if err != nil {
		rq.fail(err)
		return
	}
	s := rq.h.cfg.Vault
	ctx, c, v := rq.r.Context(), rq.caller, rq.t.vault
	var res vault.KeyOperationResult
	switch op {
	case "verify":
		valid, err := s.Verify(ctx, c, v, name, version, in.Alg, in.Digest, in.Value)
		rq.ok(keyVerifyResult{Value: valid}, err)
		return
	case "sign":
		res, err = s.Sign(ctx, c, v, name, version, in.Alg, in.Value)
	case "encrypt":
		res, err = s.Encrypt(ctx, c, v, name, version, in.Alg, vault.NewValue(in.Value), in.AES)
	case "decrypt":
		res, err = s.Decrypt(ctx, c, v, name, version, in.Alg, in.Value, in.AES)
	case "wrapkey":
		res, err = s.WrapKey(ctx, c, v, name, version, in.Alg, vault.NewValue(in.Value), in.AES)
	case "unwrapkey":
		res, err = s.UnwrapKey(ctx, c, v, name, version, in.Alg, in.Value, in.AES)
	}
	if err != nil {
		rq.fail(err)
		return
	}
	rq.reply(http.StatusOK, keyOperationResult{
		KID: rq.objectID("keys", res.Name, res.Version), Value: res.Result.Bytes(),
		IV: res.IV, Tag: res.AuthenticationTag, AAD: res.AdditionalAuthenticatedData,
	})
}
