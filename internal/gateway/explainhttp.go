package gateway

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ExplainRequest is the body of POST /admin/v1/tenants/{tenant}/apis/{name}/explain:
// the request to dry-run. Headers carry the credentials to try (they are
// used, never echoed); Certificate is a PEM client certificate.
type ExplainRequest struct {
	Method      string              `json:"method,omitempty"` // default GET
	Path        string              `json:"path,omitempty"`   // default: the API's path prefix
	Host        string              `json:"host,omitempty"`
	Headers     map[string][]string `json:"headers,omitempty"`
	Certificate string              `json:"certificate,omitempty"`
}

const maxExplainBody = 64 << 10

// ExplainHandler serves the explain endpoint for an admin mux that has
// already authenticated the caller as an administrator of the tenant. The
// route must define the path values "tenant" and "name".
func (g *Gateway) ExplainHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSONError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use POST with a JSON body describing the request to explain")
			return
		}
		req, err := decodeExplainRequest(io.LimitReader(r.Body, maxExplainBody+1))
		if err != nil {
			writeJSONError(w, http.StatusBadRequest, "invalid_request", err.Error())
			return
		}
		res, err := g.Explain(r.PathValue("tenant"), r.PathValue("name"), req.WithContext(r.Context()))
		if errors.Is(err, ErrNoSuchAPI) {
			writeJSONError(w, http.StatusNotFound, "not_found", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(res)
	})
}

// decodeExplainRequest turns the body into the request to dry-run.
func decodeExplainRequest(body io.Reader) (*http.Request, error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, fmt.Errorf("read the body: %v", err)
	}
	if len(b) > maxExplainBody {
		return nil, fmt.Errorf("the body is over %d bytes", maxExplainBody)
	}
	var in ExplainRequest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, explainDecodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the body must hold exactly one JSON object; remove what follows it")
	}
	if in.Method == "" {
		in.Method = http.MethodGet
	}
	if !validHeaderName(in.Method) {
		return nil, errors.New("method is not an HTTP method token")
	}
	u := &url.URL{} // no path: Explain uses the API's path prefix
	if in.Path != "" {
		var err error
		u, err = url.ParseRequestURI(in.Path)
		if err != nil || !strings.HasPrefix(in.Path, "/") {
			return nil, errors.New("path must be an absolute path such as /orders/1 (a query is allowed)")
		}
	}
	r := &http.Request{Method: in.Method, URL: u, Host: in.Host, Header: http.Header{}, Body: http.NoBody,
		RemoteAddr: "127.0.0.1:0", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	for name, vs := range in.Headers {
		if !validHeaderName(name) {
			return nil, fmt.Errorf("headers: %q is not a header name", clip(name, 60))
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") {
				return nil, fmt.Errorf("headers[%q]: a value holds a line break or NUL", clip(name, 60))
			}
			r.Header.Add(name, v)
		}
	}
	if in.Certificate != "" {
		certs, err := parsePEMCertificates(in.Certificate)
		if err != nil {
			return nil, fmt.Errorf("certificate: %v", err)
		}
		r.TLS = &tls.ConnectionState{PeerCertificates: certs, HandshakeComplete: true}
	}
	return r, nil
}

// explainFields is what each field of an ExplainRequest takes, in words.
var explainFields = map[string]string{
	"method": "a string", "path": "a string", "host": "a string", "certificate": "a string (PEM)",
	"headers": `an object of header names to lists of values, e.g. {"Authorization": ["Bearer eyJ..."]}`,
}

// explainDecodeError says what is wrong with a body by its JSON field
// names, never by Go types.
func explainDecodeError(err error) error {
	const fields = "method, path, host, headers, certificate"
	var typ *json.UnmarshalTypeError
	var syntax *json.SyntaxError
	switch {
	case errors.As(err, &typ) && typ.Field != "":
		top, _, _ := strings.Cut(typ.Field, ".")
		if want, ok := explainFields[top]; ok {
			return fmt.Errorf("field %q must be %s, not a JSON %s", top, want, typ.Value)
		}
		return fmt.Errorf("field %q has the wrong type (a JSON %s)", clip(typ.Field, 60), typ.Value)
	case errors.As(err, &typ):
		return fmt.Errorf("the body must be a JSON object with the fields %s, not a JSON %s", fields, typ.Value)
	case errors.As(err, &syntax):
		return fmt.Errorf("the body is not valid JSON (at byte %d: %s)", syntax.Offset, strings.TrimPrefix(syntax.Error(), "json: "))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the body is not valid JSON: it ends before the object is complete")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("unknown field %s; the fields are %s (names are case-sensitive)", clip(strings.TrimPrefix(err.Error(), "json: unknown field "), 60), fields)
	}
	return fmt.Errorf("the body is not an explain request (%s): %s", fields, strings.TrimPrefix(err.Error(), "json: "))
}

func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, desc})
}
