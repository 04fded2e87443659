package connector_test

import (
	"context"
	"testing"
)

// BenchmarkInvoke measures one connector call over TLS on loopback with a
// Basic credential and a JSON body: the connector's own latency, which
// token issuance with a connector adds.
func BenchmarkInvoke(b *testing.B) {
	e := newEnv(b)
	e.setSecret(b, "connector-pw", connectorPassword)
	p := e.startEndpoint(b, reply(200, "application/json", `{"loyalty_number":"LN-42","tier":"gold"}`))
	c := e.compile(b, e.connectorFor(p.url))
	claims := map[string]any{"email": "a@contoso.test", "appid": "app-1"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Invoke(ctx, claims); err != nil {
			b.Fatal(err)
		}
	}
}
