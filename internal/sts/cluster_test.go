package sts_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/sts"
)

// fakeReplayLog is the cluster's record of used assertion ids, as another
// node sees it; down makes it fail like an unreachable database.
type fakeReplayLog struct {
	mu    sync.Mutex
	seen  map[string]bool
	calls int
	down  bool
}

func (f *fakeReplayLog) RecordAssertionID(_ context.Context, id []byte, _, _ time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.down {
		return false, errors.New("database unreachable")
	}
	if f.seen[string(id)] {
		return false, nil
	}
	f.seen[string(id)] = true
	return true, nil
}

// TestReplayLog_AssertionUsedOnAnotherNodeIsRefused runs two token
// services over one directory and one shared ReplayLog: an assertion
// accepted by one is refused by the other; secrets never touch the log;
// with the log unreachable, assertions are accepted on the node's own
// cache (counted as unshared) and a replay on the same node is still
// refused.
func TestReplayLog_AssertionUsedOnAnotherNodeIsRefused(t *testing.T) {
	log := &fakeReplayLog{seen: map[string]bool{}}
	e := newEnv(t, func(c *sts.Config) { c.ReplayLog = log })
	other := sts.New(sts.Config{Now: e.clock.Now, ReplayLog: log}, e.keys, testSealer(t))
	if err := other.Apply(e.snapshot(e.rev), e.keys.all()); err != nil {
		t.Fatal(err)
	}
	x5t := map[string]any{"x5t#S256": pki.X5TS256(e.rsaCert)}
	client := e.certClient.AppID
	assertion := e.assertion(t, jwt.SigningMethodPS256, clientRSA, x5t, client, nil)
	if r := e.post(t, "", e.assertionForm(client, assertion), nil); r.Status != 200 {
		t.Fatalf("first use: %d %s", r.Status, r.Raw)
	}
	in := sts.ClientAuthentication{Tenant: e.tenant.ID, BaseURL: e.base, Method: sts.MethodPrivateKeyJWT, ClientID: client, Assertion: sts.Secret(assertion)}
	if _, err := other.AuthenticateClient(context.Background(), in); err == nil || !strings.Contains(err.Message, "already used") {
		t.Fatalf("the other node accepted the replayed assertion: %v", err)
	}
	calls := log.calls
	if r := e.post(t, "", e.secretForm(e.secretClient, e.secret), nil); r.Status != 200 || log.calls != calls {
		t.Fatalf("secret authentication: %d, %d log writes; want 200 and none", r.Status, log.calls-calls)
	}

	log.mu.Lock()
	log.down = true
	log.mu.Unlock()
	fresh := e.assertion(t, jwt.SigningMethodPS256, clientRSA, x5t, client, nil)
	if r := e.post(t, "", e.assertionForm(client, fresh), nil); r.Status != 200 {
		t.Fatalf("with the log down: %d %s; want the token (static stability)", r.Status, r.Raw)
	}
	if r := e.post(t, "", e.assertionForm(client, fresh), nil); r.Status != 401 || !strings.Contains(r.Desc, "already used") {
		t.Fatalf("replay on the same node with the log down: %d %s", r.Status, r.Raw)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.srv.Collectors()...)
	want := "# HELP portcullis_sts_replay_unshared_total Client assertions accepted on this node's jti cache alone because the cluster's record (the database) did not answer.\n" +
		"# TYPE portcullis_sts_replay_unshared_total counter\nportcullis_sts_replay_unshared_total 1\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "portcullis_sts_replay_unshared_total"); err != nil {
		t.Fatal(err)
	}
}
