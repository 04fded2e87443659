package vault_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/internal/vault"
)

// hookServer is a real webhook receiver on 127.0.0.1 that checks signatures.
type hookServer struct {
	mu       sync.Mutex
	got      []vault.Notification
	badSig   int
	failNext int
	url      string
}

func newHookServer(t *testing.T, secret []byte) *hookServer {
	h := &hookServer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.failNext > 0 {
			h.failNext--
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if !vault.VerifyWebhookSignature(secret, body, r.Header.Get(vault.SignatureHeader)) || r.Header.Get("Content-Type") != "application/json" {
			h.badSig++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var n vault.Notification
		if err := json.Unmarshal(body, &n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.got = append(h.got, n)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	h.url = "http://" + ln.Addr().String() + "/hook"
	return h
}

func (h *hookServer) events() []vault.Notification {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]vault.Notification(nil), h.got...)
}

func TestLifetime_NotifiesOnceAtThresholdAndAutoRenews(t *testing.T) {
	secret := []byte("0123456789abcdef-webhook")
	hook := newHookServer(t, secret)
	notifier, err := vault.NewWebhookNotifier(hook.url, secret, 5*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(c *vault.Config) { c.Notifier = notifier; c.Registerer = reg })
	policy := vault.CertificatePolicy{
		X509Properties: &vault.X509Properties{Subject: "CN=renew-me", ValidityMonths: 12},
		KeyProperties:  &vault.KeyProperties{KeyType: "EC"},
		LifetimeActions: []vault.LifetimeAction{
			{Trigger: vault.LifetimeTrigger{LifetimePercentage: 50}, Action: vault.ActionType{ActionType: vault.ActionEmailContacts}},
			{Trigger: vault.LifetimeTrigger{DaysBeforeExpiry: 30}, Action: vault.ActionType{ActionType: vault.ActionAutoRenew}},
		},
	}
	op := must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "renew-me", vault.CertificateCreate{Policy: &policy}))
	first := must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, admin, "default", "renew-me", ""))
	run := func() vault.LifetimeReport {
		t.Helper()
		rep, err := e.svc.RunLifetimeActions(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	if rep := run(); rep.Notified != 0 || rep.Renewed != 0 || rep.Certificates != 1 {
		t.Fatalf("before the threshold: %+v", rep)
	}
	if got := testutil.ToFloat64(e.svc.ExpiryGauge().WithLabelValues("default", "renew-me")); got != float64(first.Attributes.Expires.Unix()) {
		t.Fatalf("gauge = %v, want %d", got, first.Attributes.Expires.Unix())
	}
	// Half-way: one notification, signed, then never again for this version.
	e.clock.Advance(first.Attributes.Expires.Sub(first.Attributes.NotBefore)/2 + time.Hour)
	hook.mu.Lock()
	hook.failNext = 1
	hook.mu.Unlock()
	if _, err := e.svc.RunLifetimeActions(e.ctx); err == nil {
		t.Fatal("failed delivery not reported")
	}
	if rep := run(); rep.Notified != 1 {
		t.Fatalf("retry after failed delivery: %+v", rep)
	}
	if rep := run(); rep.Notified != 0 {
		t.Fatalf("notified twice: %+v", rep)
	}
	ev := hook.events()
	if len(ev) != 1 || ev[0].Event != vault.EventCertificateNearExpiry || ev[0].Version != op.Version || ev[0].Trigger != "lifetimePercentage=50" || ev[0].Name != "renew-me" || hook.badSig != 0 {
		t.Fatalf("events = %+v (bad signatures %d)", ev, hook.badSig)
	}
	// 30 days before expiry: auto-renew once; version-less reads return the new version.
	e.clock.Advance(first.Attributes.Expires.Sub(e.clock.Now()) - 29*24*time.Hour)
	if rep := run(); rep.Renewed != 1 {
		t.Fatalf("renew: %+v", rep)
	}
	if rep := run(); rep.Renewed != 0 || rep.Notified != 0 {
		t.Fatalf("second run acted again: %+v", rep)
	}
	renewed := must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, admin, "default", "renew-me", ""))
	if renewed.Version == first.Version || !renewed.Attributes.Expires.After(first.Attributes.Expires) {
		t.Fatalf("renewed = %s expiring %s", renewed.Version, renewed.Attributes.Expires)
	}
	res := must[vault.Resolved](t)(e.svc.Resolve(e.ctx, vault.Ref{Vault: "default", Type: vault.Certificates, Name: "renew-me"}))
	if res.Ref.Version != renewed.Version {
		t.Fatal("resolver did not switch to the renewed version")
	}
	if got := testutil.ToFloat64(e.svc.ExpiryGauge().WithLabelValues("default", "renew-me")); got != float64(renewed.Attributes.Expires.Unix()) {
		t.Fatalf("gauge after renewal = %v", got)
	}
	if ev := hook.events(); len(ev) != 2 || ev[1].Event != vault.EventCertificateRenewed || ev[1].NewVersion != renewed.Version {
		t.Fatalf("events = %+v", ev)
	}
	// Exported per vault; certificate names stay out of the metrics.
	if n, err := testutil.GatherAndCount(reg, "portcullis_vault_certificate_soonest_expiry_timestamp_seconds"); err != nil || n != 1 {
		t.Fatalf("registered series = %d, %v", n, err)
	}
	if n, err := testutil.GatherAndCount(reg, "portcullis_vault_certificate_expiry_timestamp_seconds"); err != nil || n != 0 {
		t.Fatalf("per-certificate series = %d, %v; want none without MetricsObjectNames", n, err)
	}
}

func TestWebhookNotifier_Validation(t *testing.T) {
	for _, tc := range []struct {
		url    string
		secret string
	}{
		{"ftp://x/y", "0123456789abcdef"},
		{"/relative", "0123456789abcdef"},
		{"https://ok.example/hook", "short"},
	} {
		if _, err := vault.NewWebhookNotifier(tc.url, []byte(tc.secret), 0, nil); err == nil {
			t.Errorf("%q accepted", tc.url)
		}
	}
	if vault.VerifyWebhookSignature([]byte("k"), []byte("body"), vault.SignWebhookBody([]byte("other"), []byte("body"))) {
		t.Fatal("signature with another secret verified")
	}
}

// recordingNotifier keeps the notifications it is given.
type recordingNotifier struct {
	mu  sync.Mutex
	got []vault.Notification
}

func (r *recordingNotifier) Notify(_ context.Context, n vault.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, n)
	return nil
}

func (r *recordingNotifier) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// A lifetime percentage of a long-lived certificate fires at that share of
// its lifetime: lifetime (ns) × percentage exceeds time.Duration for
// certificates valid longer than about three years.
func TestLifetime_PercentageOfLongLifetime(t *testing.T) {
	for _, tc := range []struct {
		months, pct int
	}{
		{60, 80},
		{120, 99},
		{1200, 50},
	} {
		t.Run(fmt.Sprintf("%dmonths-%dpct", tc.months, tc.pct), func(t *testing.T) {
			rec := &recordingNotifier{}
			e := newEnv(t, func(c *vault.Config) { c.Notifier = rec })
			policy := vault.CertificatePolicy{
				X509Properties: &vault.X509Properties{Subject: "CN=long-lived", ValidityMonths: tc.months},
				KeyProperties:  &vault.KeyProperties{KeyType: "EC"},
				LifetimeActions: []vault.LifetimeAction{
					{Trigger: vault.LifetimeTrigger{LifetimePercentage: tc.pct}, Action: vault.ActionType{ActionType: vault.ActionEmailContacts}},
				},
			}
			must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, "default", "long-lived", vault.CertificateCreate{Policy: &policy}))
			cert := must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, admin, "default", "long-lived", ""))
			nbf, exp := cert.Attributes.NotBefore, cert.Attributes.Expires
			threshold := nbf.Add(time.Duration(float64(exp.Sub(nbf)) * float64(tc.pct) / 100))
			run := func() {
				t.Helper()
				if _, err := e.svc.RunLifetimeActions(e.ctx); err != nil {
					t.Fatal(err)
				}
			}
			run()
			if n := rec.count(); n != 0 {
				t.Fatalf("notified %d times right after issuance; the threshold is %s", n, threshold)
			}
			e.clock.Advance(threshold.Sub(e.clock.Now()) - 24*time.Hour)
			run()
			if n := rec.count(); n != 0 {
				t.Fatalf("notified %d times a day before the threshold %s", n, threshold)
			}
			e.clock.Advance(48 * time.Hour)
			run()
			if n := rec.count(); n != 1 {
				t.Fatalf("notified %d times a day after the threshold %s, want 1", n, threshold)
			}
		})
	}
}

// Errors of a webhook delivery name the endpoint by scheme and host only:
// webhook URLs often carry a credential in their path or query.
func TestWebhookNotifier_ErrorsDoNotRepeatTheURL(t *testing.T) {
	secret := []byte("0123456789abcdef-webhook")
	hook := newHookServer(t, secret)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more: the delivery fails to connect
	for _, tc := range []struct {
		name, url string
		fail      bool
	}{
		{"non-2xx answer", hook.url + "/T000/B000/path-credential?sig=query-credential", true},
		{"connection refused", closed + "/T000/B000/path-credential?sig=query-credential", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := vault.NewWebhookNotifier(tc.url, secret, 5*time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.fail {
				hook.mu.Lock()
				hook.failNext = 1
				hook.mu.Unlock()
			}
			err = n.Notify(context.Background(), vault.Notification{Event: vault.EventCertificateNearExpiry})
			if err == nil {
				t.Fatal("failed delivery not reported")
			}
			if strings.Contains(err.Error(), "credential") || !strings.Contains(err.Error(), "127.0.0.1") {
				t.Fatalf("error %q: want the host without path or query", err)
			}
		})
	}
	if _, err := vault.NewWebhookNotifier("ftp://user:pass-credential@x/y", secret, 0, nil); err == nil || strings.Contains(err.Error(), "credential") {
		t.Fatalf("invalid URL error %v: want it refused without repeating it", err)
	}
}
