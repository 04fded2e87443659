package vault

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Certificate expiry metrics. The service records each certificate's
// expiry in a gauge vector keyed by vault and name (expiryGauge), but what
// it exports is aggregated per vault unless Config.MetricsObjectNames is
// set: certificate names are customer data and a label per object grows
// the series without bound.
var (
	soonestExpiryDesc = prometheus.NewDesc(
		"portcullis_vault_certificate_soonest_expiry_timestamp_seconds",
		"Earliest expiry (notAfter) among the current versions of the vault's certificates, in Unix seconds.",
		[]string{"vault"}, nil)
	certificatesDesc = prometheus.NewDesc(
		"portcullis_vault_certificates",
		"Certificates of the vault by when their current version expires: expired, within_7d, within_30d or later.",
		[]string{"vault", "expires"}, nil)
)

// expiryBuckets are the values of the "expires" label, in order.
var expiryBuckets = [...]struct {
	label  string
	before time.Duration // expires before now+before; the last one catches the rest
}{
	{"expired", 0},
	{"within_7d", 7 * 24 * time.Hour},
	{"within_30d", 30 * 24 * time.Hour},
	{"later", 0},
}

// expiryCollector exports the expiry gauge: per vault always, per
// certificate only when objectNames is set.
type expiryCollector struct {
	gauge       *prometheus.GaugeVec // labels vault, name; never registered itself
	objectNames bool
	now         func() time.Time
}

func newExpiryGauge() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "portcullis_vault_certificate_expiry_timestamp_seconds",
		Help: "Expiry (notAfter) of the current version of each vault certificate, in Unix seconds (only with per-object metric names turned on).",
	}, []string{"vault", "name"})
}

// Describe implements prometheus.Collector.
func (c *expiryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- soonestExpiryDesc
	ch <- certificatesDesc
	if c.objectNames {
		c.gauge.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *expiryCollector) Collect(ch chan<- prometheus.Metric) {
	type vaultExpiry struct {
		soonest float64
		counts  [len(expiryBuckets)]int
	}
	now := c.now()
	perVault := map[string]*vaultExpiry{}
	series := make(chan prometheus.Metric, 64)
	go func() { c.gauge.Collect(series); close(series) }()
	for m := range series {
		if c.objectNames {
			ch <- m
		}
		var pb dto.Metric
		if m.Write(&pb) != nil || pb.Gauge == nil {
			continue
		}
		var vaultName string
		for _, l := range pb.Label {
			if l.GetName() == "vault" {
				vaultName = l.GetValue()
			}
		}
		notAfter := pb.Gauge.GetValue()
		ve := perVault[vaultName]
		if ve == nil {
			ve = &vaultExpiry{soonest: notAfter}
			perVault[vaultName] = ve
		}
		ve.soonest = min(ve.soonest, notAfter)
		ve.counts[expiryBucket(now, notAfter)]++
	}
	for name, ve := range perVault {
		ch <- prometheus.MustNewConstMetric(soonestExpiryDesc, prometheus.GaugeValue, ve.soonest, name)
		for i, b := range expiryBuckets {
			ch <- prometheus.MustNewConstMetric(certificatesDesc, prometheus.GaugeValue, float64(ve.counts[i]), name, b.label)
		}
	}
}

// expiryBucket is the index in expiryBuckets of a notAfter in Unix seconds.
func expiryBucket(now time.Time, notAfter float64) int {
	left := time.Duration((notAfter - float64(now.Unix())) * float64(time.Second))
	switch {
	case left <= 0:
		return 0
	case left <= expiryBuckets[1].before:
		return 1
	case left <= expiryBuckets[2].before:
		return 2
	}
	return 3
}
