package declarative

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the document parser: it must never
// panic, and a document it accepts must survive a JSON round trip.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"tenants: []\n",
		baseYAML,
		applyExample,
		`{"tenants":[{"name":"a","applications":[{"displayName":"x","identifierUris":["api://x"]}]}]}`,
		"tenants:\n  - name: a\n    apis: [{name: x, revision: 3}]\n",
		"vaults: [{name: orders, secrets: [{name: s, value: {fromEnv: A, fromFile: b}}]}]\n",
		"tenants:\n  - name: a\n    connectors: [{name: c, endpoint: 'https://h', tokenIssuance: {resourceApps: [x]}}]\n",
		"tenants:\n  - name: a\n    applications:\n      - displayName: x\n        federatedIdentityCredentials: [{name: k8s, issuer: 'https://i.test', subject: s, keys: {keys: [{kty: EC, kid: k1}]}, audiences: [a]}]\n",
		"tenants:\n  - name: a\n    applications:\n      - displayName: x\n        federatedIdentityCredentials: [{name: k8s, issuer: 'https://i.test', subject: s, keys: {keys: [{kty: RSA, kid: r1, n: AQAB, e: AQAB}, {kty: EC, y: a, true: b}]}}]\n",
		"- just\n- a list\n",
		"tenants: {a: b}\n",
		"&a [*a]",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data)
		if err != nil {
			return
		}
		js, err := json.Marshal(doc)
		if err != nil {
			t.Fatalf("a parsed document does not marshal: %v", err)
		}
		again, err := Parse(js)
		if err != nil {
			t.Fatalf("a parsed document does not parse again: %v\n%s", err, js)
		}
		js2, err := json.Marshal(again)
		if err != nil || !bytes.Equal(js, js2) {
			t.Fatalf("round trip changed the document:\n%s\n%s", js, js2)
		}
	})
}

// applyExample is the example of docs/apply.md (kept in step by hand).
const applyExample = `
tenants:
  - name: contoso
    applications:
      - displayName: orders-api
        identifierUris: [api://orders]
        appRoles:
          - {value: Orders.Read, displayName: Read orders}
      - displayName: orders-client
        keyCredentials:
          - {certificateFile: certs/orders-client.cer}
        passwordCredentials:
          - {description: ci, saveTo: secrets/orders-client.secret}
    grants:
      - {client: orders-client, resource: orders-api, role: Orders.Read}
vaults:
  - name: default
    roleAssignments:
      - {principal: orders-client, tenant: contoso, role: Key Vault Secrets User, scope: secrets/db-password}
    secrets:
      - {name: db-password, value: {fromEnv: DB_PASSWORD}}
`
