package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/directory"
	"github.com/portcullis/portcullis/internal/seal"
)

// fakeRootKeys is a RootKeys whose answers the test sets.
type fakeRootKeys struct {
	mu     sync.Mutex
	calls  int
	report RekeyReport
	err    error
	block  bool // Rekey waits for its context to end, like a long run
	status RootKeyStatus
}

func (f *fakeRootKeys) Rekey(ctx context.Context) (RekeyReport, error) {
	f.mu.Lock()
	f.calls++
	rep, err, block := f.report, f.err, f.block
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return rep, fmt.Errorf("vault rekey: scan: %w", ctx.Err())
	}
	return rep, err
}

func (f *fakeRootKeys) RootKeyStatus(context.Context) (RootKeyStatus, error) { return f.status, nil }

// withRootKeys points e at a second API over the same store that has rk
// (nil: none) as its RootKeys.
func (e *env) withRootKeys(t *testing.T, rk RootKeys, budget time.Duration) {
	t.Helper()
	tokens := fakeTokens{tokAdmin: {TenantID: e.tenant.ID, Audience: e.mgmt.AppID, AppID: e.adminClient.AppID, Roles: []string{directory.AdminRoleValue}}}
	cfg := Config{
		Store: e.st, Authenticator: tokens, Keys: e.keys, ManagementAppID: e.mgmt.AppID,
		Changed: func(context.Context) { e.changed.Add(1) },
		Logger:  slog.New(slog.NewTextHandler(e.logs, nil)),
		Now:     func() time.Time { return e.now }, RekeyBudget: budget,
	}
	if rk != nil {
		cfg.RootKeys = rk
	}
	mux := http.NewServeMux()
	New(cfg).Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	e.base = "http://" + ln.Addr().String()
}

type rekeyOutT struct {
	RootKeyID      string `json:"rootKeyId"`
	VaultBlobs     int    `json:"vaultBlobs"`
	SigningKeys    int    `json:"signingKeys"`
	AlreadyCurrent int    `json:"alreadyCurrent"`
	Complete       bool   `json:"complete"`
}

func TestRekey_Route(t *testing.T) {
	mismatch := fmt.Errorf("vault rekey: open secret \"s\" version v1: %w: the blob is sealed by root key id 1a2b3c4d; pass --previous-root-key", seal.ErrRootKeyMismatch)
	for _, tc := range []struct {
		name        string
		rk          *fakeRootKeys
		body        any
		wantStatus  int
		wantCode    string
		wantParts   []string
		wantOut     rekeyOutT
		wantChanged bool
	}{
		{"complete run", &fakeRootKeys{report: RekeyReport{RootKeyID: "abcd0123", VaultBlobs: 5, SigningKeys: 2, AlreadyCurrent: 1}}, nil,
			http.StatusOK, "", nil, rekeyOutT{RootKeyID: "abcd0123", VaultBlobs: 5, SigningKeys: 2, AlreadyCurrent: 1, Complete: true}, true},
		{"empty object body", &fakeRootKeys{report: RekeyReport{RootKeyID: "abcd0123", AlreadyCurrent: 7}}, "{}",
			http.StatusOK, "", nil, rekeyOutT{RootKeyID: "abcd0123", AlreadyCurrent: 7, Complete: true}, false},
		{"budget runs out", &fakeRootKeys{block: true, report: RekeyReport{RootKeyID: "abcd0123", VaultBlobs: 3}}, nil,
			http.StatusOK, "", nil, rekeyOutT{RootKeyID: "abcd0123", VaultBlobs: 3, Complete: false}, false},
		{"blob of a key the node lacks", &fakeRootKeys{err: mismatch}, nil,
			http.StatusConflict, "Conflict", []string{"1a2b3c4d", "--previous-root-key"}, rekeyOutT{}, false},
		{"store failure stays internal", &fakeRootKeys{err: errors.New("database is locked at /secret/path")}, nil,
			http.StatusInternalServerError, "InternalError", []string{"server log"}, rekeyOutT{}, false},
		{"unknown field", &fakeRootKeys{}, `{"force":true}`,
			http.StatusBadRequest, "BadRequest", []string{"force"}, rekeyOutT{}, false},
		{"no root-key management", nil, nil,
			http.StatusServiceUnavailable, "ServiceUnavailable", []string{"/admin/v1/rekey"}, rekeyOutT{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var rk RootKeys
			if tc.rk != nil {
				rk = tc.rk
			}
			e.withRootKeys(t, rk, 50*time.Millisecond)
			before := e.changed.Load()
			r := e.do("POST", "/admin/v1/rekey", tc.body)
			if tc.wantCode != "" {
				wantError(t, r, tc.wantStatus, tc.wantCode, tc.wantParts...)
				if strings.Contains(string(r.body), "/secret/path") {
					t.Fatalf("internal detail leaked: %s", r.body)
				}
				return
			}
			got := decodeAs[rekeyOutT](t, expect(t, r, tc.wantStatus))
			if got != tc.wantOut {
				t.Fatalf("report %+v, want %+v", got, tc.wantOut)
			}
			if changed := e.changed.Load() > before; changed != tc.wantChanged {
				t.Fatalf("token service notified = %v, want %v", changed, tc.wantChanged)
			}
		})
	}
}

func TestRekey_NeedsAdmin(t *testing.T) {
	e := newEnv(t)
	e.withRootKeys(t, &fakeRootKeys{}, time.Second)
	wantError(t, e.send(request{method: "POST", path: "/admin/v1/rekey", noToken: true}), http.StatusUnauthorized, "Unauthorized")
	wantError(t, e.send(request{method: "GET", path: "/admin/v1/rootKeys", token: tokNoRole}), http.StatusUnauthorized, "Unauthorized")
}

type rootKeyStatusOutT struct {
	CurrentRootKeyID   string   `json:"currentRootKeyId"`
	PreviousRootKeyIDs []string `json:"previousRootKeyIds"`
	SealedBy           []struct {
		RootKeyID   string `json:"rootKeyId"`
		Current     bool   `json:"current"`
		Held        bool   `json:"held"`
		VaultBlobs  int    `json:"vaultBlobs"`
		SigningKeys int    `json:"signingKeys"`
	} `json:"sealedBy"`
	Malformed         int      `json:"malformed"`
	RekeyNeeded       bool     `json:"rekeyNeeded"`
	PreviousKeysInUse []string `json:"previousKeysInUse"`
}

func TestRootKeyStatus_Route(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     RootKeyStatus
		wantNeeded bool
		wantInUse  []string
	}{
		{"all current", RootKeyStatus{CurrentRootKeyID: "bbbb0000", PreviousRootKeyIDs: []string{"aaaa0000"},
			SealedBy: []SealedCount{{RootKeyID: "bbbb0000", Held: true, VaultBlobs: 4, SigningKeys: 1}}}, false, []string{}},
		{"previous key still in use", RootKeyStatus{CurrentRootKeyID: "bbbb0000", PreviousRootKeyIDs: []string{"aaaa0000"},
			SealedBy: []SealedCount{{RootKeyID: "bbbb0000", Held: true, VaultBlobs: 1}, {RootKeyID: "aaaa0000", Held: true, SigningKeys: 1}}}, true, []string{"aaaa0000"}},
		{"unknown key", RootKeyStatus{CurrentRootKeyID: "bbbb0000",
			SealedBy: []SealedCount{{RootKeyID: "cccc0000", VaultBlobs: 2}}}, true, []string{"cccc0000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.withRootKeys(t, &fakeRootKeys{status: tc.status}, time.Second)
			got := decodeAs[rootKeyStatusOutT](t, expect(t, e.do("GET", "/admin/v1/rootKeys", nil), http.StatusOK))
			if got.CurrentRootKeyID != tc.status.CurrentRootKeyID || got.RekeyNeeded != tc.wantNeeded || got.PreviousRootKeyIDs == nil ||
				strings.Join(got.PreviousKeysInUse, ",") != strings.Join(tc.wantInUse, ",") || len(got.SealedBy) != len(tc.status.SealedBy) {
				t.Fatalf("status %+v", got)
			}
			for i, c := range got.SealedBy {
				want := tc.status.SealedBy[i]
				if c.RootKeyID != want.RootKeyID || c.Held != want.Held || c.Current != (want.RootKeyID == tc.status.CurrentRootKeyID) ||
					c.VaultBlobs != want.VaultBlobs || c.SigningKeys != want.SigningKeys {
					t.Fatalf("sealedBy[%d] = %+v, want %+v", i, c, want)
				}
			}
		})
	}
}
