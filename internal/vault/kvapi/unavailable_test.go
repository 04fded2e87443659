package kvapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/portcullis/portcullis/internal/ratelog"
	"github.com/portcullis/portcullis/internal/store"
	"github.com/portcullis/portcullis/internal/vault"
)

func TestWriteError_UnavailableIs503WithRetryAfterInKeyVaultShape(t *testing.T) {
	h := &Handler{log: slog.New(slog.DiscardHandler), pace: ratelog.New(slog.New(slog.DiscardHandler), 0, nil)}
	cases := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter bool
	}{
		{"database unreachable", vault.AsError(fmt.Errorf("set: %w", store.ErrUnavailable)), http.StatusServiceUnavailable, vault.CodeServiceUnavailable, true},
		{"root key missing on this node", &vault.Error{Kind: vault.KindUnavailable, Code: vault.CodeServiceUnavailable, Message: "no root key"}, http.StatusServiceUnavailable, vault.CodeServiceUnavailable, true},
		{"internal failure", vault.AsError(fmt.Errorf("boom")), http.StatusInternalServerError, vault.CodeInternal, false},
		{"not found", &vault.Error{Kind: vault.KindNotFound, Code: vault.CodeSecretNotFound, Message: "no"}, http.StatusNotFound, vault.CodeSecretNotFound, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.writeError(rec, "req-1", c.err)
			var body wireError
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body.String(), err)
			}
			if rec.Code != c.status || body.Error.Code != c.code || body.Error.Message == "" {
				t.Fatalf("got %d %+v, want %d %s", rec.Code, body, c.status, c.code)
			}
			if got := rec.Header().Get("Retry-After") != ""; got != c.retryAfter {
				t.Fatalf("Retry-After %q, want present=%v", rec.Header().Get("Retry-After"), c.retryAfter)
			}
		})
	}
}
