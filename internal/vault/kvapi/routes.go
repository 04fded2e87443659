package kvapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/portcullis/portcullis/internal/vault"
)

// dispatch routes a request by its segments after the vault prefix. Key
// Vault's paths leave an empty segment for an empty version
// (/secrets/{name}/ and /keys/{name}//sign); both spellings are accepted.
func (rq *request) dispatch() {
	segs := rq.t.segs
	if n := len(segs); (n == 2 || n == 3) && segs[n-1] == "" {
		segs = segs[:n-1] // "/secrets/" and "/secrets/{name}/" (version-less)
	}
	if len(segs) == 0 {
		rq.fail(errNotFoundPath(rq.r))
		return
	}
	switch segs[0] {
	case "secrets":
		rq.secrets(segs[1:])
	case "deletedsecrets":
		rq.deleted(segs[1:], vault.Secrets)
	case "certificates":
		rq.certificates(segs[1:])
	case "deletedcertificates":
		rq.deleted(segs[1:], vault.Certificates)
	case "keys":
		rq.keys(segs[1:])
	case "deletedkeys":
		rq.deleted(segs[1:], vault.Keys)
	case "rng":
		rq.rng(segs[1:])
	default:
		rq.fail(errNotFoundPath(rq.r))
	}
}

// route names the matched operation for metrics (the server counts
// requests by r.Pattern).
func (rq *request) route(pattern string) { rq.r.Pattern = "kvapi " + pattern }

// allow answers 405 unless the request's method is one of methods.
func (rq *request) allow(methods ...string) bool {
	for _, m := range methods {
		if rq.r.Method == m {
			return true
		}
	}
	rq.w.Header().Set("Allow", strings.Join(methods, ", "))
	rq.fail(errMethod(rq.r, strings.Join(methods, " or ")))
	return false
}

func (rq *request) fail(err error) { rq.h.writeError(rq.w, rq.caller.RequestID, err) }

// reply writes v as JSON with status.
func (rq *request) reply(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		rq.fail(err)
		return
	}
	h := rq.w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	rq.w.WriteHeader(status)
	_, _ = rq.w.Write(b)
}

// ok writes v with 200, or the error.
func (rq *request) ok(v any, err error) {
	if err != nil {
		rq.fail(err)
		return
	}
	rq.reply(http.StatusOK, v)
}

// body reads and parses the request body with parse.
func body[T any](rq *request, parse func([]byte) (T, error)) (T, bool) {
	var zero T
	b, err := rq.readBody()
	if err != nil {
		rq.fail(err)
		return zero, false
	}
	v, err := parse(b)
	if err != nil {
		rq.fail(err)
		return zero, false
	}
	return v, true
}

func (rq *request) notFound() { rq.fail(errNotFoundPath(rq.r)) }

// deleted serves /deleted{secrets,certificates,keys}[/{name}[/recover]].
func (rq *request) deleted(segs []string, typ vault.ObjectType) {
	c, v := rq.caller, rq.t.vault
	ctx := rq.r.Context()
	s := rq.h.cfg.Vault
	coll := "deleted" + string(typ)
	switch len(segs) {
	case 0:
		rq.route("GET /" + coll)
		if !rq.allow(http.MethodGet) {
			return
		}
		p, err := rq.pageRequest(coll)
		if err != nil {
			rq.fail(err)
			return
		}
		switch typ {
		case vault.Secrets:
			page, err := s.ListDeletedSecrets(ctx, c, v, p)
			replyList(rq, coll, p, page, err, false, rq.secretItem)
		case vault.Certificates:
			page, err := s.ListDeletedCertificates(ctx, c, v, p)
			replyList(rq, coll, p, page, err, false, rq.certificateItem)
		case vault.Keys:
			page, err := s.ListDeletedKeys(ctx, c, v, p)
			replyList(rq, coll, p, page, err, false, rq.keyItem)
		}
	case 1:
		name := segs[0]
		rq.route(rq.r.Method + " /" + coll + "/{name}")
		if !rq.allow(http.MethodGet, http.MethodDelete) {
			return
		}
		if rq.r.Method == http.MethodDelete {
			var err error
			switch typ {
			case vault.Secrets:
				err = s.PurgeSecret(ctx, c, v, name)
			case vault.Certificates:
				err = s.PurgeCertificate(ctx, c, v, name)
			case vault.Keys:
				err = s.PurgeKey(ctx, c, v, name)
			}
			if err != nil {
				rq.fail(err)
				return
			}
			rq.w.WriteHeader(http.StatusNoContent)
			return
		}
		switch typ {
		case vault.Secrets:
			sec, err := s.GetDeletedSecret(ctx, c, v, name)
			rq.ok(rq.secretBundle(sec, false), err)
		case vault.Certificates:
			cert, err := s.GetDeletedCertificate(ctx, c, v, name)
			rq.ok(rq.certificateBundle(cert), err)
		case vault.Keys:
			k, err := s.GetDeletedKey(ctx, c, v, name)
			rq.ok(rq.keyBundle(k), err)
		}
	case 2:
		name := segs[0]
		if segs[1] != "recover" {
			rq.notFound()
			return
		}
		rq.route("POST /" + coll + "/{name}/recover")
		if !rq.allow(http.MethodPost) {
			return
		}
		switch typ {
		case vault.Secrets:
			sec, err := s.RecoverSecret(ctx, c, v, name)
			rq.ok(rq.secretBundle(sec, false), err)
		case vault.Certificates:
			cert, err := s.RecoverCertificate(ctx, c, v, name)
			rq.ok(rq.certificateBundle(cert), err)
		case vault.Keys:
			k, err := s.RecoverKey(ctx, c, v, name)
			rq.ok(rq.keyBundle(k), err)
		}
	default:
		rq.notFound()
	}
}

// rng serves POST /rng (GetRandomBytes): {"count": n} → {"value": base64url}.
func (rq *request) rng(rest []string) {
	if len(rest) != 0 {
		rq.notFound()
		return
	}
	rq.route("POST /rng")
	if !rq.allow(http.MethodPost) {
		return
	}
	n, ok := body(rq, parseRandomBytes)
	if !ok {
		return
	}
	b, err := rq.h.cfg.Vault.RandomBytes(rq.r.Context(), rq.caller, rq.t.vault, n)
	if err != nil {
		rq.fail(err)
		return
	}
	rq.reply(http.StatusOK, struct {
		Value string `json:"value"`
	}{base64.RawURLEncoding.EncodeToString(b.Bytes())})
}
