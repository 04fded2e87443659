package server

import (
	"net/http"
	"strings"
)

// refuseUncleanPaths answers 400 to a request whose path has empty, "." or
// ".." segments. http.ServeMux would answer such a path with a redirect to
// the cleaned path, and HTTP clients follow a 307 with the same method,
// body and bearer token: DELETE …/appRoles/.. would land on the
// application itself. No client of Portcullis sends such paths on purpose.
// It sits behind the Key Vault handler, whose paths may carry an empty
// version segment (/keys/NAME//sign) and which validates names itself.
func refuseUncleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !cleanPath(r.URL.Path) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":{"code":"BadRequest","message":"the request path contains an empty, '.' or '..' segment; send the canonical path (name objects by id where a name is '.' or '..')"}}` + "\n"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath reports whether p starts with "/" and has no empty, "." or ".."
// segment (a single trailing slash is allowed).
func cleanPath(p string) bool {
	if p == "/" {
		return true
	}
	if p == "" || p[0] != '/' {
		return false
	}
	rest := strings.TrimSuffix(p[1:], "/")
	for seg := range strings.SplitSeq(rest, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
