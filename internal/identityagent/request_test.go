package identityagent

import (
	"strings"
	"testing"
	"unicode"
)

func TestParseTokenRequest(t *testing.T) {
	const guid = "0C4D5E6F-1111-2222-3333-444455556666"
	for _, tc := range []struct {
		name    string
		query   string
		want    tokenRequest
		wantErr string
	}{
		{"system-assigned as MSAL sends it", "api-version=2019-08-01&resource=api%3A%2F%2Forders", tokenRequest{Resource: "api://orders"}, ""},
		{"client id is lower-cased", "api-version=2019-08-01&resource=api://orders&client_id=" + guid, tokenRequest{Resource: "api://orders", ClientID: strings.ToLower(guid)}, ""},
		{"mi_res_id selects by its last segment", "api-version=2019-08-01&resource=r&mi_res_id=%2Fsubscriptions%2Fs%2FuserAssignedIdentities%2Freports", tokenRequest{Resource: "r", Name: "reports"}, ""},
		{"a bare name", "api-version=2019-08-01&resource=r&mi_res_id=reports", tokenRequest{Resource: "r", Name: "reports"}, ""},
		{"no api-version", "resource=r", tokenRequest{}, "api-version is missing"},
		{"old api-version", "api-version=2017-09-01&resource=r", tokenRequest{}, "not supported"},
		{"no resource", "api-version=2019-08-01", tokenRequest{}, "resource is missing"},
		{"resource twice", "api-version=2019-08-01&resource=a&resource=b", tokenRequest{}, "appears 2 times"},
		{"space in resource", "api-version=2019-08-01&resource=a+b", tokenRequest{}, "white space"},
		{"control character in resource", "api-version=2019-08-01&resource=a%00", tokenRequest{}, "white space or control"},
		{"two selectors", "api-version=2019-08-01&resource=r&client_id=" + guid + "&mi_res_id=x", tokenRequest{}, "at most one"},
		{"client id not a GUID", "api-version=2019-08-01&resource=r&client_id=orders", tokenRequest{}, "not an application (client) id"},
		{"object id", "api-version=2019-08-01&resource=r&object_id=" + guid, tokenRequest{}, "not by object id"},
		{"mi_res_id ending in a slash", "api-version=2019-08-01&resource=r&mi_res_id=a%2F", tokenRequest{}, "does not end in an identity name"},
		{"malformed escape", "api-version=2019-08-01&resource=%zz", tokenRequest{}, "malformed"},
		{"long query", "api-version=2019-08-01&resource=" + strings.Repeat("a", 5000), tokenRequest{}, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTokenRequest(tc.query)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseTokenRequest(f *testing.F) {
	for _, s := range []string{
		"api-version=2019-08-01&resource=api%3A%2F%2Forders",
		"api-version=2019-08-01&resource=https%3A%2F%2Fvault.example.com&client_id=0c4d5e6f-1111-2222-3333-444455556666",
		"api-version=2019-08-01&resource=r&mi_res_id=%2Fsubscriptions%2Fs%2Fx%2Freports",
		"api-version=2019-08-01&resource=a+b", "resource=%zz&&&=", "api-version=2019-08-01&resource=%E2%80%AEx",
		"api-version=2019-08-01&resource=r&object_id=x&client_id=y", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r, err := parseTokenRequest(q)
		if err != nil {
			for _, c := range err.Error() {
				if unicode.IsControl(c) {
					t.Fatalf("error message has control character %U: %q", c, err.Error())
				}
			}
			return
		}
		if r.Resource == "" || strings.IndexFunc(r.Resource, notResourceRune) >= 0 || len(r.Resource) > maxResourceLength {
			t.Fatalf("accepted resource %q", r.Resource)
		}
		if r.ClientID != "" && (r.Name != "" || !guidPattern.MatchString(r.ClientID) || r.ClientID != strings.ToLower(r.ClientID)) {
			t.Fatalf("accepted selector %+v", r)
		}
		if r.Name != "" && !namePattern.MatchString(r.Name) {
			t.Fatalf("accepted name %q", r.Name)
		}
	})
}

func TestLoopbackAddress(t *testing.T) {
	for _, tc := range []struct{ in, want, wantErr string }{
		{"127.0.0.1:40380", "127.0.0.1:40380", ""},
		{"localhost:0", "127.0.0.1:0", ""},
		{"[::1]:8080", "[::1]:8080", ""},
		{"127.0.0.2:1", "127.0.0.2:1", ""},
		{"0.0.0.0:40380", "", "not a loopback address"},
		{":40380", "", "not a loopback address"},
		{"192.168.1.5:40380", "", "not a loopback address"},
		{"[::]:1", "", "not a loopback address"},
		{"example.com:80", "", "not a loopback address"},
		{"127.0.0.1", "", "want HOST:PORT"},
	} {
		got, err := LoopbackAddress(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseIdentityAndValidate(t *testing.T) {
	const a, b = "0c4d5e6f-1111-2222-3333-444455556666", "7a8b9c0d-1111-2222-3333-444455556666"
	for _, tc := range []struct{ in, wantErr string }{
		{a, ""}, {"reports=" + b, ""}, {" reports = " + strings.ToUpper(b), ""},
		{"orders", "not an application (client) id"}, {"=" + a, "the name"}, {"a/b=" + a, "the name"},
	} {
		_, err := ParseIdentity(tc.in)
		if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("ParseIdentity(%q): %v, want %q", tc.in, err, tc.wantErr)
		}
	}
	for _, tc := range []struct {
		name    string
		ids     Identities
		wantErr string
	}{
		{"none", Identities{}, "no identity"},
		{"one system-assigned", Identities{SystemAssigned: &Identity{ClientID: a}}, ""},
		{"same app twice", Identities{SystemAssigned: &Identity{ClientID: a}, UserAssigned: []Identity{{ClientID: strings.ToUpper(a)}}}, "given twice"},
		{"same name twice", Identities{UserAssigned: []Identity{{ClientID: a, Name: "x"}, {ClientID: b, Name: "X"}}}, "given twice"},
	} {
		err := tc.ids.Validate()
		if (tc.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}
