package vault

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/portcullis/portcullis/internal/audit"
	"github.com/portcullis/portcullis/internal/pki"
	"github.com/portcullis/portcullis/internal/store"
)

// Notification events.
const (
	EventCertificateNearExpiry = "CertificateNearExpiry"
	EventCertificateRenewed    = "CertificateRenewed"
)

// Notification tells about a certificate lifetime event or a key rotation
// policy's event; it never holds key material.
type Notification struct {
	Event      string    `json:"event"`
	Vault      string    `json:"vault"`
	Name       string    `json:"name"`
	Version    string    `json:"version"`
	NewVersion string    `json:"newVersion,omitempty"`
	Action     string    `json:"action"`
	Trigger    string    `json:"trigger"`
	Subject    string    `json:"subject"`
	X5T        string    `json:"x5t"`
	NotBefore  time.Time `json:"notBefore,omitzero"` // omitted for a key version without nbf
	Expires    time.Time `json:"expires,omitzero"`   // omitted for a key version without exp
	Time       time.Time `json:"time"`
	// Contacts are the vault's certificate contacts (SetContacts) when the
	// notification fired; Portcullis does not send e-mail itself.
	Contacts []Contact `json:"contacts,omitempty"`
}

// Notifier delivers lifetime notifications (Key Vault's EmailContacts action).
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// LogNotifier writes notifications to a logger at warning level.
type LogNotifier struct {
	Logger *slog.Logger
}

// Notify logs n.
func (l LogNotifier) Notify(ctx context.Context, n Notification) error {
	log := l.Logger
	if log == nil {
		log = slog.Default()
	}
	emails := make([]string, 0, len(n.Contacts))
	for _, c := range n.Contacts {
		emails = append(emails, c.Email)
	}
	log.WarnContext(ctx, "vault certificate lifetime event", "event", n.Event, "vault", n.Vault, "name", n.Name,
		"version", n.Version, "new_version", n.NewVersion, "trigger", n.Trigger, "expires", n.Expires.UTC().Format(time.RFC3339),
		"contacts", strings.Join(emails, ","))
	return nil
}

// MultiNotifier delivers to each notifier in turn and joins their errors.
type MultiNotifier []Notifier

// Notify delivers n to every notifier.
func (m MultiNotifier) Notify(ctx context.Context, n Notification) error {
	var errs []error
	for _, x := range m {
		if err := x.Notify(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SignatureHeader carries the webhook body's HMAC: "sha256=<hex>".
const SignatureHeader = "X-Portcullis-Signature"

// WebhookNotifier POSTs each notification as JSON to a URL, signed with
// HMAC-SHA256 over the body in SignatureHeader. One attempt per
// notification: a failed delivery is retried by the next lifetime run, not
// in a loop.
type WebhookNotifier struct {
	url string
	// shown names the endpoint in errors: scheme and host only, because
	// webhook URLs often carry a credential in their path or query.
	shown   string
	secret  []byte
	client  *http.Client
	timeout time.Duration
}

// NewWebhookNotifier returns a notifier for an http(s) URL with the shared
// HMAC secret (at least 16 bytes); timeout bounds each delivery (10s when 0);
// client is http.DefaultClient's transport when nil.
func NewWebhookNotifier(rawURL string, secret []byte, timeout time.Duration, client *http.Client) (*WebhookNotifier, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		// The URL is not echoed: it may carry a credential.
		return nil, errors.New("webhook URL: want an absolute http or https URL")
	}
	if len(secret) < 16 {
		return nil, errors.New("webhook secret must be at least 16 bytes")
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if client == nil {
		client = &http.Client{}
	}
	return &WebhookNotifier{url: u.String(), shown: u.Scheme + "://" + u.Host, secret: bytes.Clone(secret), client: client, timeout: timeout}, nil
}

// SignWebhookBody returns the SignatureHeader value for body.
func SignWebhookBody(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhookSignature checks a SignatureHeader value in constant time.
func VerifyWebhookSignature(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(SignWebhookBody(secret, body)), []byte(header))
}

// Notify POSTs n; any non-2xx answer is an error.
func (w *WebhookNotifier) Notify(ctx context.Context, n Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("webhook: encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, SignWebhookBody(w.secret, body))
	req.Header.Set("X-Portcullis-Event", n.Event)
	req.Header.Set("X-Portcullis-Delivery", uuid.NewString())
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error // it repeats the full URL
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("webhook %s: %w", w.shown, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s answered %s", w.shown, resp.Status)
	}
	return nil
}

// LifetimeReport summarises one RunLifetimeActions pass.
type LifetimeReport struct {
	Certificates int
	Notified     int
	Renewed      int
	Failed       int
	// Keys counts the keys whose rotation policy was evaluated; Rotated
	// the versions their Rotate actions created.
	Keys    int
	Rotated int
}

// thresholdOf returns when a trigger fires for a certificate valid from nbf to exp.
// The percentage is applied to whole hundredths of the lifetime first: the
// product of a lifetime of more than about three years (in nanoseconds) and
// a percentage overflows time.Duration.
func thresholdOf(t LifetimeTrigger, nbf, exp time.Time) time.Time {
	if t.DaysBeforeExpiry > 0 {
		return exp.Add(-time.Duration(t.DaysBeforeExpiry) * 24 * time.Hour)
	}
	life, pct := exp.Sub(nbf), time.Duration(t.LifetimePercentage)
	return nbf.Add(life/100*pct + life%100*pct/100)
}

// RunLifetimeActions evaluates every live certificate's lifetime actions
// and every live key's rotation policy (see keyLifetimeOf)
// against the clock: each action fires once per certificate version and
// trigger (a marker in the store makes that hold across runs and nodes),
// EmailContacts through the Notifier, AutoRenew by issuing a new version
// with the same policy. It also sets the expiry gauge. A failed action is
// unmarked so the next run retries it once.
func (s *Service) RunLifetimeActions(ctx context.Context) (LifetimeReport, error) {
	ctx = audit.WithChange(ctx) // each change commits with its audit record
	var rep LifetimeReport
	var errs []error
	vaults, err := s.store.ListVaults(ctx)
	if err != nil {
		return rep, fmt.Errorf("vault lifetime actions: list vaults: %w", err)
	}
	for _, v := range vaults {
		entries, err := s.store.ListObjects(ctx, v.Name, Certificates, ObjectQuery{})
		if err != nil {
			errs = append(errs, fmt.Errorf("vault %s: list certificates: %w", v.Name, err))
			continue
		}
		for _, e := range entries {
			rep.Certificates++
			if err := s.lifetimeOf(ctx, v, e, &rep); err != nil {
				rep.Failed++
				errs = append(errs, fmt.Errorf("vault %s certificate %s: %w", v.Name, e.Object.Name, err))
			}
		}
		keys, err := s.store.ListObjects(ctx, v.Name, Keys, ObjectQuery{})
		if err != nil {
			errs = append(errs, fmt.Errorf("vault %s: list keys: %w", v.Name, err))
			continue
		}
		for _, e := range keys {
			rep.Keys++
			if err := s.keyLifetimeOf(ctx, v, e, &rep); err != nil {
				rep.Failed++
				errs = append(errs, fmt.Errorf("vault %s key %s: %w", v.Name, e.Object.Name, err))
			}
		}
	}
	return rep, errors.Join(errs...)
}

func (s *Service) lifetimeOf(ctx context.Context, v Vault, e ObjectEntry, rep *LifetimeReport) error {
	ver := e.Newest
	cert, err := x509.ParseCertificate(ver.Public)
	if err != nil {
		return fmt.Errorf("parse stored certificate: %w", err)
	}
	s.expiry.WithLabelValues(v.Name, foldName(e.Object.Name)).Set(float64(cert.NotAfter.Unix()))
	policy, err := policyOf(e.Object)
	if err != nil || policy == nil {
		return err
	}
	now := s.now().UTC()
	var errs []error
	var contacts []Contact
	contactsRead := false
	for _, la := range policy.LifetimeActions {
		if now.Before(thresholdOf(la.Trigger, cert.NotBefore, cert.NotAfter)) {
			continue
		}
		m := LifetimeMarker{Vault: v.Name, Name: e.Object.Name, Version: ver.Version, Action: la.Action.ActionType, Trigger: la.Trigger.String(), Fired: now}
		first, err := s.store.MarkLifetimeAction(ctx, m)
		if err != nil {
			errs = append(errs, fmt.Errorf("mark %s: %w", m.Action, err))
			continue
		}
		if !first {
			continue
		}
		if !contactsRead {
			// A vault without readable contacts still notifies (webhook, log).
			if cs, _, cerr := s.contacts(ctx, v.Name); cerr == nil {
				contacts = cs
			} else {
				s.log.Warn("vault certificate contacts could not be read for a notification", "vault", v.Name, "error", cerr)
			}
			contactsRead = true
		}
		n := Notification{
			Event: EventCertificateNearExpiry, Vault: v.Name, Name: e.Object.Name, Version: ver.Version,
			Action: la.Action.ActionType, Trigger: la.Trigger.String(), Subject: cert.Subject.String(),
			X5T: pki.X5T(cert), NotBefore: cert.NotBefore, Expires: cert.NotAfter, Time: now, Contacts: contacts,
		}
		var actErr error
		switch la.Action.ActionType {
		case ActionEmailContacts:
			if actErr = s.notifier.Notify(ctx, n); actErr == nil {
				rep.Notified++
			}
		case ActionAutoRenew:
			actErr = s.autoRenew(ctx, v, e, *policy, &n)
			if actErr == nil {
				rep.Renewed++
			}
		}
		if actErr != nil {
			if uerr := s.store.UnmarkLifetimeAction(ctx, m); uerr != nil {
				s.log.Error("vault lifetime marker could not be removed; the action will not be retried", "vault", v.Name, "name", e.Object.Name, "error", uerr)
			}
			errs = append(errs, fmt.Errorf("%s at %s: %w", m.Action, m.Trigger, actErr))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) autoRenew(ctx context.Context, v Vault, e ObjectEntry, policy CertificatePolicy, n *Notification) error {
	if policy.Issuer == nil || policy.Issuer.Name == IssuerUnknown {
		return fmt.Errorf("AutoRenew needs issuer %q or an issuer of provider %q", IssuerSelf, ProviderPortcullis)
	}
	o := s.begin(ctx, internalCaller, v.Name, Certificates, e.Object.Name, "", PermCertificatesCreate)
	ver, err := s.issue(ctx, v, e.Object.Name, policy, nil, e.Newest.Tags, "", "")
	if err == nil {
		o.version = ver.Version
	}
	o.end(&err)
	if err != nil {
		return err
	}
	n.Event, n.NewVersion = EventCertificateRenewed, ver.Version
	if nerr := s.notifier.Notify(ctx, *n); nerr != nil {
		s.log.Warn("vault certificate renewed but the notification failed", "vault", v.Name, "name", e.Object.Name, "error", nerr)
	}
	return nil
}

// PurgeExpiredDeletions purges soft-deleted objects whose scheduled purge
// date has passed (also under purge protection: that is its end), except
// objects still referenced. It returns how many it purged.
func (s *Service) PurgeExpiredDeletions(ctx context.Context) (int, error) {
	ctx = audit.WithChange(ctx) // each change commits with its audit record
	vaults, err := s.store.ListVaults(ctx)
	if err != nil {
		return 0, fmt.Errorf("vault purge: list vaults: %w", err)
	}
	now := s.now()
	n := 0
	var errs []error
	for _, v := range vaults {
		for _, typ := range []ObjectType{Secrets, Keys, Certificates} {
			entries, err := s.store.ListObjects(ctx, v.Name, typ, ObjectQuery{Deleted: true})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, e := range entries {
				d := e.Object.Deleted
				if d == nil || now.Before(d.ScheduledPurgeAt) {
					continue
				}
				if err := s.refusedByReferences(ctx, v.Name, e.Object.Name, "purged", covered(typ)...); err != nil {
					if !IsKind(err, KindConflict) { // a store failure, not a reference
						errs = append(errs, err)
					}
					continue
				}
				o := s.begin(ctx, internalCaller, v.Name, typ, e.Object.Name, "", map[ObjectType]Permission{Secrets: PermSecretsPurge, Keys: PermKeysPurge, Certificates: PermCertificatesPurge}[typ])
				err := s.store.PurgeObject(ctx, v.Name, typ, e.Object.Name)
				if errors.Is(err, store.ErrNotFound) {
					err = nil
				}
				o.end(&err)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				n++
			}
		}
	}
	return n, errors.Join(errs...)
}
