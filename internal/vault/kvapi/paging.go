package kvapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/portcullis/portcullis/internal/vault"
)

// Paging follows Key Vault: a listing answers {"value":[…],"nextLink":URL}
// and the next page is a GET of nextLink, which carries api-version,
// maxresults and $skiptoken. The skip token is the vault's cursor sealed
// (AES-256-GCM under the root key) with an aad naming the vault and the
// listing, so any node accepts it, a client cannot read or alter it, and a
// token from another listing is refused.

// maxSkipTokenLength bounds the $skiptoken accepted.
const maxSkipTokenLength = 2048

const skipTokenAAD = "portcullis/kvapi/skiptoken/v1"

func skipAAD(vaultName, listing string) []byte {
	return []byte(skipTokenAAD + "\x00" + strings.ToLower(vaultName) + "\x00" + strings.ToLower(listing))
}

// sealSkipToken protects a cursor for one listing.
func sealSkipToken(s Sealer, vaultName, listing, cursor string) (string, error) {
	b, err := s.Seal([]byte(cursor), skipAAD(vaultName, listing))
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// openSkipToken returns the cursor of a skip token issued for this listing.
func openSkipToken(s Sealer, vaultName, listing, token string) (string, error) {
	bad := badParameter("The $skiptoken is not valid for this listing: it was altered, truncated or issued for another listing. Start the listing again without $skiptoken and follow each page's nextLink as given.")
	if len(token) > maxSkipTokenLength {
		return "", bad
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) == 0 {
		return "", bad
	}
	cursor, err := s.Open(b, skipAAD(vaultName, listing))
	if err != nil {
		return "", bad
	}
	return string(cursor), nil
}

// pageRequest reads maxresults and $skiptoken for a listing.
func (rq *request) pageRequest(listing string) (vault.PageRequest, error) {
	q := rq.r.URL.Query()
	var p vault.PageRequest
	if m := q.Get("maxresults"); m != "" {
		n, err := strconv.Atoi(m)
		if err != nil || n < 1 || n > vault.MaxPageSize {
			return p, badParameter("maxresults must be an integer between 1 and %d, got %q.", vault.MaxPageSize, clip(m, 20))
		}
		p.MaxResults = n
	}
	if tok, ok := q["$skiptoken"]; ok {
		if len(tok) != 1 || tok[0] == "" {
			return p, badParameter("$skiptoken must be given once and not be empty: follow the nextLink of the previous page.")
		}
		after, err := openSkipToken(rq.h.cfg.Sealer, rq.t.vault, listing, tok[0])
		if err != nil {
			return p, err
		}
		p.After = after
	}
	return p, nil
}

// nextLink builds the URL of the next page, or "" when next is "".
func (rq *request) nextLink(listing, path string, p vault.PageRequest, next string) (string, error) {
	if next == "" {
		return "", nil
	}
	tok, err := sealSkipToken(rq.h.cfg.Sealer, rq.t.vault, listing, next)
	if err != nil {
		return "", err
	}
	q := "api-version=" + url.QueryEscape(rq.version)
	if p.MaxResults > 0 {
		q += "&maxresults=" + strconv.Itoa(p.MaxResults)
	}
	if rq.listQuery != "" {
		q += "&" + rq.listQuery
	}
	q += "&$skiptoken=" + tok
	return rq.t.link + path + "?" + q, nil
}

// replyList answers a listing (whose path is "/"+listing) with page's items
// as item renders them (withVersion in listings of versions) and the link
// to the next page.
func replyList[T, W any](rq *request, listing string, p vault.PageRequest, page vault.Page[T], err error, withVersion bool, item func(T, bool) W) {
	if err != nil {
		rq.fail(err)
		return
	}
	out := listResult[W]{Value: make([]W, 0, len(page.Items))}
	for _, x := range page.Items {
		out.Value = append(out.Value, item(x, withVersion))
	}
	next, err := rq.nextLink(listing, "/"+listing, p, page.Next)
	if err != nil {
		rq.fail(err)
		return
	}
	if next != "" {
		out.NextLink = &next
	}
	rq.reply(http.StatusOK, out)
}
