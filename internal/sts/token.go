package sts

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"
)

// handleToken serves POST /{tenant}/oauth2/v2.0/token. It only sequences
// the phases and writes the answer:
//
//	parse → AuthenticateClient → authorize → enrich → Issuer.Issue
//
// Each phase returns an *Error; writeError renders it.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	now := s.now()
	base := s.baseURL(r)
	st := s.cur.Load()
	var method string
	fail := func(e *Error) {
		s.metrics.failure(method, e.Code, start)
		s.writeError(w, r, base, e, method == MethodSecretBasic)
	}

	seg := r.PathValue("tenant")
	t, ok := st.snap.Tenant(seg)
	if !ok {
		fail(unknownTenant(seg))
		return
	}
	src := sourceAddress(r)
	if e := s.checkSource(src, now); e != nil {
		fail(e)
		return
	}
	req, e := s.readTokenRequest(w, r)
	method = req.AuthMethod
	if e != nil {
		fail(e)
		return
	}
	client, e := s.authenticateClient(r.Context(), st, t, now, &ClientAuthentication{
		Tenant: t.ID, BaseURL: base, Method: req.AuthMethod, ClientID: req.ClientID,
		Secret: req.ClientSecret, Assertion: req.ClientAssertion, Source: src,
	})
	if e != nil {
		fail(e)
		return
	}
	authz, e := s.authorize(st, &client, req.Scope)
	if e != nil {
		fail(e)
		return
	}
	extra, e := s.enrich(r.Context(), &client, &authz, src)
	if e != nil {
		fail(e)
		return
	}
	tok, e := s.issuer.Issue(IssueRequest{BaseURL: base, Client: client, Authorization: authz, ExtraClaims: extra, Now: now})
	if e != nil {
		fail(e)
		return
	}
	writeToken(w, &tok)
	s.metrics.success(method, start)
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "issued access token",
			slog.String("tenant", t.ID), slog.String("client_id", client.Application.AppID), slog.String("resource", authz.Resource.AppID),
			slog.String("method", method), slog.String("credential_id", client.CredentialID), slog.String("kid", tok.KID), slog.String("uti", tok.UTI))
	}
}

// readTokenRequest reads the bounded body and parses it with the
// Authorization header.
func (s *Server) readTokenRequest(w http.ResponseWriter, r *http.Request) (tokenRequest, *Error) {
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			e := invalidRequest(CodeMalformedRequest, "Invalid request. The request body exceeds %d bytes.", s.cfg.MaxBodyBytes)
			e.Status = http.StatusRequestEntityTooLarge
			return tokenRequest{}, e
		}
		return tokenRequest{}, invalidRequest(CodeMalformedRequest, "Invalid request. The request body could not be read.")
	}
	// One request, one client authentication: with two Authorization
	// headers, which one counts would depend on the reader (RFC 6750 §3.1
	// calls that invalid_request for bearer tokens; the same holds here).
	if n := len(r.Header.Values("Authorization")); n > 1 {
		return tokenRequest{}, invalidRequest(CodeMalformedRequest, "Invalid request. The request carries %d Authorization headers; send exactly one, or none and the credentials in the body.", n)
	}
	return parseTokenRequest(r.Header.Get("Content-Type"), body, r.Header.Get("Authorization"))
}

// writeToken writes the successful token response (RFC 6749 §5.1, with
// Entra's ext_expires_in).
func writeToken(w http.ResponseWriter, tok *AccessToken) {
	secs := strconv.FormatInt(int64(tok.Lifetime/time.Second), 10)
	out := make([]byte, 0, len(tok.Token)+96)
	out = append(out, `{"token_type":"Bearer","expires_in":`...)
	out = append(out, secs...)
	out = append(out, `,"ext_expires_in":`...)
	out = append(out, secs...)
	out = append(out, `,"access_token":"`...)
	out = append(out, tok.Token...)
	out = append(out, `"}`...)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	w.Write(out)
}

func quoteList(xs []string, n int) string {
	var b []byte
	for i, x := range xs {
		if i == n {
			b = append(b, ", …"...)
			break
		}
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '\'')
		b = append(b, clip(x, 100)...)
		b = append(b, '\'')
	}
	return string(b)
}

// throttled is the 429 answer to a client id or address that failed
// authentication too often.
func throttled(wait time.Duration, who string) *Error {
	e := newError(http.StatusTooManyRequests, "temporarily_unavailable", CodeTooManyFailedAttempts,
		"Too many failed client authentication attempts %s. Retry after %d seconds, and check the credential before retrying.",
		who, int(math.Ceil(wait.Seconds()))) // as Retry-After
	e.RetryAfter = wait
	return e
}

// sourceAddress is the TCP peer's IP address.
func sourceAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
