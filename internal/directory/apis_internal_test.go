package directory

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSnapshotApply_APIsAreReplacedRemovedAndOrdered(t *testing.T) {
	a := API{TenantID: "t2", Name: "orders", Description: "v1", Revision: 1}
	b := API{TenantID: "t1", Name: "zeta", Revision: 1}
	s1 := NewSnapshot(1, nil, nil, nil, []API{a, b})
	if got := names(s1.APIs()); got != "t1/zeta t2/orders" {
		t.Fatalf("APIs() = %s, want ordered by tenant id, then name", got)
	}
	a2 := a
	a2.Description, a2.Revision = "v2", 2
	c := API{TenantID: "t1", Name: "alpha", Revision: 2}
	s2 := s1.Apply(Changes{Revision: 2, APIs: []ChangedAPI{
		{TenantID: "t2", Name: "orders", API: &a2},
		{TenantID: "t1", Name: "zeta"}, // deleted
		{TenantID: "t1", Name: "alpha", API: &c},
		{TenantID: "t9", Name: "never-existed"},
	}})
	if got := names(s2.APIs()); got != "t1/alpha t2/orders" {
		t.Fatalf("after Apply: %s", got)
	}
	if p, ok := s2.API("T2", "orders"); !ok || p.Description != "v2" {
		t.Fatalf("API(T2, orders) = %+v, %v", p, ok)
	}
	if _, ok := s2.API("t1", "zeta"); ok {
		t.Fatal("a deleted API is still found")
	}
	// The earlier snapshot is untouched: readers may still hold it.
	if got := names(s1.APIs()); got != "t1/zeta t2/orders" {
		t.Fatalf("the earlier snapshot changed: %s", got)
	}
	if p, _ := s1.API("t2", "orders"); p.Description != "v1" {
		t.Fatalf("the earlier snapshot's API changed: %+v", p)
	}
	// A change without APIs shares the list.
	s3 := s2.Apply(Changes{Revision: 3})
	if &s3.APIs()[0] != &s2.APIs()[0] {
		t.Error("a change without APIs copied the API list")
	}
}

func names(apis []API) string {
	out := ""
	for i, a := range apis {
		if i > 0 {
			out += " "
		}
		out += a.TenantID + "/" + a.Name
	}
	return out
}

// FuzzNormalizeAPI feeds any API document to the validation: it never
// panics, and what it accepts it accepts again unchanged (the stored form
// is a fixed point, so a GET sent back as a PUT is never refused or
// altered by normalization).
func FuzzNormalizeAPI(f *testing.F) {
	for _, s := range []string{
		`{"name":"orders","match":{"hosts":["API.Example.com.","*.x.org"],"pathPrefix":"/orders","methods":["GET"]},"backend":{"urls":["https://h:8443/b"],"tls":{"serverName":"h"},"timeouts":{"connectSeconds":2}},"policy":{"methods":[{"type":"basic","users":[{"name":"u","password":"vault://kv1/secrets/p"}]}]},"principalHeaders":{"x-a":"subject"}}`,
		`{"name":"a","match":{"pathPrefix":"/"},"backend":{"urls":["http://h"]},"policy":{"methods":[{"type":"apiKey","header":"x-functions-key","query":"code","keys":[{"name":"k","secret":"vault://kv1/secrets/k/0123456789abcdef0123456789abcdef"}]}],"rules":{"roles":["R"],"require":"all"}}}`,
		`{"name":"b","match":{"pathPrefix":"/b"},"backend":{"urls":["http://h"]},"policy":{"methods":[{"type":"clientCertificate","trustedCAs":["vault://kv1/certificates/ca"],"pins":[{"thumbprint":"AB:CD"},{"subject":"CN=a","issuer":"CN=b"}]}]}}`,
		`{"name":"c","match":{"pathPrefix":"/c/../d"},"backend":{"urls":["http://u:p@h?q"]},"policy":{"methods":[{"type":"bearer","issuers":[{"issuer":"http://127.0.0.1"}],"audiences":["a"],"algorithms":["HS256"]}]}}`,
		`{"name":"","match":{"hosts":["[::1]:80"],"methods":["get"]},"principalHeaders":{"Content-Length":"x"}}`,
		`{"name":"m","match":{"pathPrefix":"/m"},"backend":{"urls":["https://h"],"tls":{"pinnedThumbprints":["AB:CD"],"skipChainValidation":true},"credential":{"type":"clientCertificate","certificate":"vault://kv1/certificates/c"}},"policy":{"anonymous":true}}`,
		`{"name":"n","match":{"pathPrefix":"/n"},"backend":{"urls":["http://h","https://i"],"allowInsecureAuth":true,"tls":{"insecureSkipVerify":true},"credential":{"type":"bearer","clientCredentials":{"authority":"http://127.0.0.1/t","clientId":"c","clientSecret":"vault://kv1/secrets/s","scope":"api://x/.default"}}},"policy":{"anonymous":true}}`,
		`{"name":"o","match":{"pathPrefix":"/o"},"backend":{"urls":["http://h"],"credential":{"type":"apiKeyHeader","header":"Authorization","key":"vault://kv1/secrets/k"}},"policy":{"anonymous":true}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var in API
		if json.Unmarshal(doc, &in) != nil {
			return
		}
		out, err := normalizeAPI(in)
		if err != nil {
			if KindOf(err) != Invalid {
				t.Fatalf("refusal of kind %v: %v", KindOf(err), err)
			}
			return
		}
		again, err := normalizeAPI(out)
		if err != nil {
			t.Fatalf("the normalized API is refused: %v", err)
		}
		b1, _ := json.Marshal(out)
		b2, _ := json.Marshal(again)
		if string(b1) != string(b2) {
			t.Fatalf("normalization is not idempotent:\n%s\n%s", b1, b2)
		}
	})
}

// FuzzShownURL: whatever surrounds it, a password in the user information
// of a URL never reaches the text an error quotes.
func FuzzShownURL(f *testing.F) {
	for _, s := range [][3]string{
		{"http://", "u", "h/x"}, {"ftp://", "", "h"}, {"", "u", "h"}, {"//", "u", "h?q#f"},
		{"http://", "u", "h x"}, {"https://", "a@b", "h/@x"}, {"x", "", "@"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	const pw = "Pw9Secret"
	f.Fuzz(func(t *testing.T, prefix, user, rest string) {
		// The password must be what a parser takes as such: not split by
		// an authority's end or by another '@' in the prefix or user, and
		// not repeated where it would be shown anyway.
		if strings.ContainsAny(prefix+user, "/?#@") && !strings.HasSuffix(prefix, "//") || strings.Contains(prefix+user+rest, pw[:4]) {
			return
		}
		if strings.ContainsAny(user, "/?#@") || strings.Count(prefix, "//") > 1 || strings.Contains(strings.TrimSuffix(prefix, "//"), "/") {
			return
		}
		raw := prefix + user + ":" + pw + "@" + rest
		if got := shownURL(raw); strings.Contains(got, pw[:4]) {
			t.Fatalf("shownURL(%q) = %q", raw, got)
		}
	})
}
