package directory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/internal/directory"
)

const testJWKS = `{"keys":[{"kty":"EC","use":"sig","kid":"k1","crv":"P-256",` +
	`"x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]}`

func TestFederatedIdentityCredentials_AddListRemoveOnEveryBackend(t *testing.T) {
	eachBackend(t, 2, func(t *testing.T, st []backend) {
		ctx := context.Background()
		svc, other := directory.NewService(st[0], clock), directory.NewService(st[1], clock)
		if _, err := svc.CreateTenant(ctx, "contoso"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateApplication(ctx, "contoso", directory.NewApplication{DisplayName: "orders"}); err != nil {
			t.Fatal(err)
		}
		gh, err := svc.AddFederatedIdentityCredential(ctx, "contoso", "orders", directory.FederatedIdentityCredential{
			Name: "github-main", Issuer: "https://token.actions.githubusercontent.com", Subject: "repo:contoso/orders:ref:refs/heads/main",
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(gh.Audiences) != 1 || gh.Audiences[0] != directory.DefaultFederatedAudience || gh.ID == "" || !gh.CreatedAt.Equal(testNow) {
			t.Errorf("added credential = %+v; want the default audience, an id and the creation time", gh)
		}
		k8s, err := svc.AddFederatedIdentityCredential(ctx, "contoso", "orders", directory.FederatedIdentityCredential{
			Name: "k8s", Issuer: "https://kubernetes.default.svc.cluster.local", Subject: "system:serviceaccount:orders:api",
			Audiences: []string{"api://orders"}, Keys: json.RawMessage(testJWKS), Description: " cluster a ",
		})
		if err != nil {
			t.Fatal(err)
		}
		// Another node reads what this one wrote.
		_, app, err := other.Application(ctx, "contoso", "orders")
		if err != nil {
			t.Fatal(err)
		}
		if n := len(app.FederatedIdentityCredentials); n != 2 {
			t.Fatalf("%d credentials stored, want 2", n)
		}
		got := app.FederatedIdentityCredentials[1]
		if got.ID != k8s.ID || got.Description != "cluster a" || string(got.Keys) != testJWKS || got.Audiences[0] != "api://orders" {
			t.Errorf("stored credential = %+v", got)
		}
		if err := other.RemoveFederatedIdentityCredential(ctx, "contoso", "orders", "GITHUB-MAIN"); err != nil {
			t.Fatalf("remove by name, any case: %v", err)
		}
		if err := svc.RemoveFederatedIdentityCredential(ctx, "contoso", "orders", k8s.ID); err != nil {
			t.Fatalf("remove by id: %v", err)
		}
		if err := svc.RemoveFederatedIdentityCredential(ctx, "contoso", "orders", "k8s"); directory.KindOf(err) != directory.NotFound {
			t.Errorf("remove twice: %v; want NotFound", err)
		}
		_, app, _ = svc.Application(ctx, "contoso", "orders")
		if len(app.FederatedIdentityCredentials) != 0 {
			t.Errorf("credentials left: %+v", app.FederatedIdentityCredentials)
		}
	})
}

func TestFederatedIdentityCredentials_Refusals(t *testing.T) {
	eachBackend(t, 1, func(t *testing.T, st []backend) {
		ctx := context.Background()
		svc := directory.NewService(st[0], clock)
		if _, err := svc.CreateTenant(ctx, "contoso"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateApplication(ctx, "contoso", directory.NewApplication{DisplayName: "orders"}); err != nil {
			t.Fatal(err)
		}
		good := directory.FederatedIdentityCredential{Name: "first", Issuer: "https://issuer.test", Subject: "s"}
		if _, err := svc.AddFederatedIdentityCredential(ctx, "contoso", "orders", good); err != nil {
			t.Fatal(err)
		}
		with := func(f func(c *directory.FederatedIdentityCredential)) directory.FederatedIdentityCredential {
			c := directory.FederatedIdentityCredential{Name: "second", Issuer: "https://issuer.test", Subject: "other"}
			f(&c)
			return c
		}
		tests := []struct {
			name string
			c    directory.FederatedIdentityCredential
			kind directory.Kind
			want string
		}{
			{"name too short", with(func(c *directory.FederatedIdentityCredential) { c.Name = "ab" }), directory.Invalid, `"name" is 2 characters`},
			{"name with a space", with(func(c *directory.FederatedIdentityCredential) { c.Name = "a b c" }), directory.Invalid, `contains ' '`},
			{"name taken, other case", with(func(c *directory.FederatedIdentityCredential) { c.Name = "FIRST" }), directory.Conflict, "already has a federated identity credential named"},
			{"same issuer and subject", with(func(c *directory.FederatedIdentityCredential) { c.Subject = "s" }), directory.Conflict, "one credential per issuer and subject"},
			{"issuer missing", with(func(c *directory.FederatedIdentityCredential) { c.Issuer = "" }), directory.Invalid, `"issuer" is required`},
			{"issuer plain http", with(func(c *directory.FederatedIdentityCredential) { c.Issuer = "http://issuer.test" }), directory.Invalid, "must be an https URL"},
			{"issuer with query", with(func(c *directory.FederatedIdentityCredential) { c.Issuer = "https://issuer.test/?a=1" }), directory.Invalid, "without user info, query or fragment"},
			{"issuer not a URL", with(func(c *directory.FederatedIdentityCredential) { c.Issuer = "contoso" }), directory.Invalid, "absolute https URL"},
			{"issuer with a port out of range", with(func(c *directory.FederatedIdentityCredential) { c.Issuer = "https://issuer.test:99999" }), directory.Invalid, `has port "99999"; use 1 to 65535`},
			{"issuer with port 0", with(func(c *directory.FederatedIdentityCredential) { c.Issuer = "https://issuer.test:0/x" }), directory.Invalid, `has port "0"`},
			{"issuer with an empty port", with(func(c *directory.FederatedIdentityCredential) { c.Issuer = "https://issuer.test:/x" }), directory.Invalid, `has port ""`},
			{"issuer with a space", with(func(c *directory.FederatedIdentityCredential) { c.Issuer = "https://issuer.test/a b" }), directory.Invalid, "contains whitespace"},
			{"issuer with an empty query", with(func(c *directory.FederatedIdentityCredential) { c.Issuer = "https://issuer.test/?" }), directory.Invalid, "without user info, query or fragment"},
			{"jwksUri with port 0", with(func(c *directory.FederatedIdentityCredential) { c.JWKSURI = "https://127.0.0.1:0/jwks" }), directory.Invalid, `"jwksUri" "https://127.0.0.1:0/jwks" has port "0"`},
			{"subject missing", with(func(c *directory.FederatedIdentityCredential) { c.Subject = " " }), directory.Invalid, `"subject" is required`},
			{"subject padded", with(func(c *directory.FederatedIdentityCredential) { c.Subject = "s " }), directory.Invalid, "leading or trailing spaces"},
			{"subject too long", with(func(c *directory.FederatedIdentityCredential) { c.Subject = strings.Repeat("s", 601) }), directory.Invalid, "at most 600"},
			{"two audiences", with(func(c *directory.FederatedIdentityCredential) { c.Audiences = []string{"a", "b"} }), directory.Invalid, "give exactly one"},
			{"empty audience", with(func(c *directory.FederatedIdentityCredential) { c.Audiences = []string{""} }), directory.Invalid, `"audiences[0]" is required`},
			{"jwksUri and keys", with(func(c *directory.FederatedIdentityCredential) {
				c.JWKSURI, c.Keys = "https://issuer.test/jwks", json.RawMessage(testJWKS)
			}), directory.Invalid, "give at most one"},
			{"jwksUri plain http", with(func(c *directory.FederatedIdentityCredential) { c.JWKSURI = "http://issuer.test/jwks" }), directory.Invalid, "must be an https URL"},
			{"keys not a JWK Set", with(func(c *directory.FederatedIdentityCredential) { c.Keys = json.RawMessage(`{"a":1}`) }), directory.Invalid, "not a usable JWK Set"},
			{"keys a file name", with(func(c *directory.FederatedIdentityCredential) { c.Keys = json.RawMessage(`"cluster-a-jwks.json"`) }), directory.Invalid,
				`field "keys" is not a usable JWK Set: a JSON string where the set itself belongs, {"keys": [...]} (its content, not a file name)`},
			{"keys without a usable key", with(func(c *directory.FederatedIdentityCredential) { c.Keys = json.RawMessage(`{"keys":[]}`) }), directory.Invalid, "no usable signature key"},
			{"control character in description", with(func(c *directory.FederatedIdentityCredential) { c.Description = "a\x00" }), directory.Invalid, "control character"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := svc.AddFederatedIdentityCredential(ctx, "contoso", "orders", tc.c)
				var de *directory.Error
				if !errors.As(err, &de) || de.Kind != tc.kind || !strings.Contains(de.Msg, tc.want) {
					t.Fatalf("error %v, want a %v *directory.Error saying %q", err, tc.kind, tc.want)
				}
			})
		}
		t.Run("loopback http is accepted for development", func(t *testing.T) {
			if _, err := svc.AddFederatedIdentityCredential(ctx, "contoso", "orders", with(func(c *directory.FederatedIdentityCredential) {
				c.Name, c.Issuer = "dev", "http://127.0.0.1:8080/issuer"
			})); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("at most 20", func(t *testing.T) {
			for i := 2; i < directory.MaxFederatedIdentityCredentials; i++ {
				if _, err := svc.AddFederatedIdentityCredential(ctx, "contoso", "orders", with(func(c *directory.FederatedIdentityCredential) {
					c.Name, c.Subject = fmt.Sprintf("n%02d", i), fmt.Sprintf("s%d", i)
				})); err != nil {
					t.Fatal(err)
				}
			}
			_, err := svc.AddFederatedIdentityCredential(ctx, "contoso", "orders", with(func(c *directory.FederatedIdentityCredential) { c.Name = "one-more" }))
			if directory.KindOf(err) != directory.Conflict || !strings.Contains(err.Error(), "the maximum") {
				t.Fatalf("21st credential: %v; want a Conflict naming the maximum", err)
			}
		})
	})
}
