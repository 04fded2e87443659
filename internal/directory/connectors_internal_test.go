package directory

import (
	"encoding/json"
	"testing"
)

// FuzzNormalizeConnector: a connector decoded from any JSON is refused as
// Invalid or accepted, never panics, and what it accepts it accepts again
// unchanged (a GET sent back as a PUT is never refused or altered).
func FuzzNormalizeConnector(f *testing.F) {
	for _, s := range []string{
		`{"name":"hr","endpoint":"https://hr.example.com/x?v=1","authentication":{"type":"basic","username":"u","password":"vault://kv1/secrets/p"},"tls":{"caCertificates":["vault://kv1/certificates/ca"],"serverName":"hr","pinnedThumbprints":["AB:` + "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd" + `"]},"inputClaims":[{"claimType":"a","partnerClaimType":"b"}]}`,
		`{"name":"h","endpoint":"http://127.0.0.1:9/","allowInsecureAuth":true,"authentication":{"type":"apiKeyHeader","header":"x-functions-key","key":"vault://kv1/secrets/k"},"sendClaimsIn":"header","inputClaims":[{"claimType":"appid","partnerClaimType":"x-app"}],"timeoutSeconds":3,"retries":2}`,
		`{"name":"b","endpoint":"https://x","authentication":{"type":"bearer","clientCredentials":{"authority":"https://login/t/","clientId":"c","clientCertificate":"vault://kv1/certificates/c","scope":"s"}},"tokenIssuance":{"clientApps":["x"],"failurePolicy":"failOpen"},"outputClaims":[{"claimType":"dept"}]}`,
		`{"name":"c","endpoint":"https://u:p@x#f","authentication":{"type":"clientCertificate","certificate":"vault://kv1/secrets/c"},"tls":{"skipChainValidation":true,"caCertificates":["x"]}}`,
		`{"name":"","sendClaimsIn":"header","inputClaims":[{"claimType":"Host"},{"claimType":"host"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var in Connector
		if json.Unmarshal(doc, &in) != nil {
			return
		}
		out, err := normalizeConnector(in)
		if err != nil {
			if KindOf(err) != Invalid {
				t.Fatalf("refusal of kind %v: %v", KindOf(err), err)
			}
			return
		}
		again, err := normalizeConnector(out)
		if err != nil {
			t.Fatalf("the normalized connector is refused: %v", err)
		}
		b1, _ := json.Marshal(out)
		b2, _ := json.Marshal(again)
		if string(b1) != string(b2) {
			t.Fatalf("normalization is not idempotent:\n%s\n%s", b1, b2)
		}
	})
}
