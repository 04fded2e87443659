package guard

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// fakeDirectory holds the tenants of its map, each with its applications.
type fakeDirectory map[string][]string

func (d fakeDirectory) ClientExists(tenantID, appID string) (holds, exists bool) {
	apps, ok := d[tenantID]
	if !ok {
		return false, false
	}
	for _, a := range apps {
		if a == appID {
			return true, true
		}
	}
	return true, false
}

func TestRequireExistingClient_RefusesOnlyADeletedClientOfAHeldTenant(t *testing.T) {
	f := newVerifierFixture(t, nil)
	const tid, app = "c0ffee00-0000-0000-0000-000000000001", "a1a1a1a1-0000-0000-0000-000000000002"
	// One token for every case: after the first, the Verifier answers from
	// its cache, and the directory must still be asked.
	tok := signJWT(t, rsaA, rs256("a"), validClaims())
	for _, tc := range []struct {
		name    string
		dir     fakeDirectory
		refused bool
	}{
		{"client exists", fakeDirectory{tid: {app}}, false},
		{"client deleted", fakeDirectory{tid: {"another-app"}}, true},
		{"tenant not held (another issuer)", fakeDirectory{"f00d0000-0000-0000-0000-000000000009": nil}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			p, err := RequireExistingClient(Bearer(f.v), tc.dir).Authenticate(req)
			if !tc.refused {
				if err != nil || p == nil || p.AppID != app {
					t.Fatalf("got %v, %v; want the Principal", p, err)
				}
				return
			}
			var e *Error
			if p != nil || !errors.As(err, &e) || e.Status != http.StatusUnauthorized || e.Code != CodeInvalidToken ||
				!strings.Contains(e.Description, "no longer exists") || strings.Contains(e.Description, tok[len(tok)-30:]) {
				t.Fatalf("got %v, %v; want 401 invalid_token saying the client no longer exists", p, err)
			}
		})
	}
	t.Run("no credentials pass through untouched", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		if _, err := RequireExistingClient(Bearer(f.v), fakeDirectory{tid: nil}).Authenticate(req); !errors.Is(err, ErrNoCredentials) {
			t.Fatalf("err = %v; want ErrNoCredentials", err)
		}
	})
}
