package vault_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/portcullis/portcullis/internal/vault"
)

func TestExpiryMetrics_AggregatePerVaultAndNameObjectsOnlyWhenTurnedOn(t *testing.T) {
	for _, names := range []bool{false, true} {
		t.Run(fmt.Sprintf("object names %v", names), func(t *testing.T) {
			reg := prometheus.NewRegistry()
			e := newEnv(t, func(c *vault.Config) { c.Registerer = reg; c.MetricsObjectNames = names })
			must[vault.Vault](t)(e.svc.CreateVault(e.ctx, admin, vault.VaultInput{Name: "team-b"}))
			create := func(vaultName, name string, months int) vault.Certificate {
				t.Helper()
				policy := vault.CertificatePolicy{
					X509Properties: &vault.X509Properties{Subject: "CN=" + name, ValidityMonths: months},
					KeyProperties:  &vault.KeyProperties{KeyType: "EC"},
				}
				must[vault.CertificateOperation](t)(e.svc.CreateCertificate(e.ctx, admin, vaultName, name, vault.CertificateCreate{Policy: &policy}))
				return must[vault.Certificate](t)(e.svc.GetCertificate(e.ctx, admin, vaultName, name, ""))
			}
			long := create("default", "secret-customer-name", 12)
			short := create("default", "short-lived", 1)
			other := create("team-b", "other", 12)
			create("default", "deleted-one", 1)
			must[vault.Certificate](t)(e.svc.DeleteCertificate(e.ctx, admin, "default", "deleted-one"))

			// Five days before the short one expires.
			e.clock.Advance(short.Attributes.Expires.Sub(e.clock.Now()) - 5*24*time.Hour)
			want := fmt.Sprintf(`
# HELP portcullis_vault_certificate_soonest_expiry_timestamp_seconds Earliest expiry (notAfter) among the current versions of the vault's certificates, in Unix seconds.
# TYPE portcullis_vault_certificate_soonest_expiry_timestamp_seconds gauge
portcullis_vault_certificate_soonest_expiry_timestamp_seconds{vault="default"} %d
portcullis_vault_certificate_soonest_expiry_timestamp_seconds{vault="team-b"} %d
`, short.Attributes.Expires.Unix(), other.Attributes.Expires.Unix()) +
				certificatesByExpiry(map[string]int{"within_7d": 1, "later": 1}, map[string]int{"later": 1})
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
				"portcullis_vault_certificate_soonest_expiry_timestamp_seconds", "portcullis_vault_certificates"); err != nil {
				t.Fatal(err)
			}
			perObject, err := testutil.GatherAndCount(reg, "portcullis_vault_certificate_expiry_timestamp_seconds")
			if err != nil {
				t.Fatal(err)
			}
			if wantN := map[bool]int{false: 0, true: 3}[names]; perObject != wantN {
				t.Fatalf("per-certificate series = %d; want %d", perObject, wantN)
			}
			if names {
				if got := testutil.ToFloat64(e.svc.ExpiryGauge().WithLabelValues("default", "secret-customer-name")); got != float64(long.Attributes.Expires.Unix()) {
					t.Fatalf("per-certificate gauge = %v", got)
				}
				return
			}
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			if s := fmt.Sprint(mfs); strings.Contains(s, "secret-customer-name") || strings.Contains(s, "short-lived") {
				t.Fatal("a certificate name is in the metrics without MetricsObjectNames")
			}
			// Once the short one has expired it moves bucket.
			e.clock.Advance(6 * 24 * time.Hour)
			want = certificatesByExpiry(map[string]int{"expired": 1, "later": 1}, map[string]int{"later": 1})
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "portcullis_vault_certificates"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// certificatesByExpiry is the text exposition of portcullis_vault_certificates
// for the vaults default and team-b, given each one's non-zero counts by
// expiry bucket.
func certificatesByExpiry(defaultVault, teamB map[string]int) string {
	var b strings.Builder
	b.WriteString(`# HELP portcullis_vault_certificates Certificates of the vault by when their current version expires: expired, within_7d, within_30d or later.
# TYPE portcullis_vault_certificates gauge
`)
	for _, bucket := range []string{"expired", "later", "within_30d", "within_7d"} {
		fmt.Fprintf(&b, "portcullis_vault_certificates{expires=%q,vault=\"default\"} %d\n", bucket, defaultVault[bucket])
		fmt.Fprintf(&b, "portcullis_vault_certificates{expires=%q,vault=\"team-b\"} %d\n", bucket, teamB[bucket])
	}
	return b.String()
}
