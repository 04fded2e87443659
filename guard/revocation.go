package guard

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ocsp"
)

// RevocationSpec is the revocation checking of a clientCertificate method:
// certificate revocation lists (RFC 5280 §5) and OCSP (RFC 6960). It needs
// trustedCAs, as a CRL or an OCSP answer is only worth something when it
// is signed by the CA that issued the certificate.
type RevocationSpec struct {
	// CRLs are the lists to check against: PEM text ("-----BEGIN X509
	// CRL-----"), a reference the resolver turns into a list (for the
	// gateway, vault://VAULT/secrets/NAME holding the PEM or DER list), or
	// an http(s) URL that is fetched in the background and refreshed.
	CRLs []string `json:"crls,omitempty"`
	// CRLMode says what happens when a list that may cover the certificate
	// cannot be used (not loaded yet, past its nextUpdate, or not signed by
	// the issuer): "hard" (the default) refuses, "soft" admits and reports.
	CRLMode string `json:"crlMode,omitempty"`
	// OCSP asks the responder named in the certificate's Authority
	// Information Access: "off" (the default), "soft" (admit when the
	// responder cannot answer or does not know the certificate) or "hard"
	// (refuse then).
	OCSP string `json:"ocsp,omitempty"`
}

// Revocation modes, the values of RevocationSpec.CRLMode and .OCSP.
const (
	RevocationOff  = "off"
	RevocationSoft = "soft"
	RevocationHard = "hard"
)

// Revocation check outcomes, as given to CompileOptions.OnRevocation.
const (
	RevocationGood        = "good"        // a current list or answer says the certificate is not revoked
	RevocationRevoked     = "revoked"     // it is revoked: refused
	RevocationUnknown     = "unknown"     // the OCSP responder does not know the certificate
	RevocationUnavailable = "unavailable" // no usable list or answer: stale, not loaded, badly signed, responder down
)

// DefaultOCSPTimeout bounds one OCSP request.
const DefaultOCSPTimeout = 2 * time.Second

// IsCRLURL reports whether a revocation.crls entry is an http(s) URL to
// download (the others are PEM text, or a reference a CRLResolver follows).
func IsCRLURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// CheckCRLMode reports whether v is a RevocationSpec.CRLMode ("" means
// hard); the error quotes v and lists the modes, for the caller to prefix
// with the field or flag that held it.
func CheckCRLMode(v string) error {
	switch v {
	case "", RevocationSoft, RevocationHard:
		return nil
	}
	return fmt.Errorf("%q: use %q or %q", clip(v, 20), RevocationSoft, RevocationHard)
}

// CheckOCSPMode is CheckCRLMode for RevocationSpec.OCSP ("" means off).
func CheckOCSPMode(v string) error {
	switch v {
	case "", RevocationOff, RevocationSoft, RevocationHard:
		return nil
	}
	return fmt.Errorf("%q: use %q, %q or %q", clip(v, 20), RevocationOff, RevocationSoft, RevocationHard)
}

func (r *RevocationSpec) validate(hasCAs bool) error {
	if !hasCAs {
		return errors.New("revocation needs trustedCAs: a CRL or OCSP answer is checked against the CA that issued the certificate, which a pins-only method does not know; add the issuing CA to trustedCAs")
	}
	if err := CheckCRLMode(r.CRLMode); err != nil {
		return fmt.Errorf("revocation.crlMode %w", err)
	}
	if err := CheckOCSPMode(r.OCSP); err != nil {
		return fmt.Errorf("revocation.ocsp %w", err)
	}
	if len(r.CRLs) == 0 {
		if r.CRLMode != "" {
			return errors.New("revocation.crlMode is set but revocation.crls is empty: list the CRLs, or drop crlMode")
		}
		if r.OCSP == "" || r.OCSP == RevocationOff {
			return errors.New("revocation checks nothing: list revocation.crls, or set revocation.ocsp to soft or hard (or drop revocation)")
		}
	}
	for i, c := range r.CRLs {
		switch {
		case strings.TrimSpace(c) == "":
			return fmt.Errorf("revocation.crls[%d] is empty: give PEM text, a reference or an http(s) URL", i)
		case IsCRLURL(c):
			u, err := url.Parse(c)
			if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
				return fmt.Errorf("revocation.crls[%d] %q: not an absolute http(s) URL with a host (and no user info or fragment)", i, redactURL(c))
			}
		case strings.Contains(c, "-----BEGIN"):
			if _, err := ParseCRL([]byte(c)); err != nil {
				return fmt.Errorf("revocation.crls[%d]: %w", i, err)
			}
		}
		for j := range i {
			if r.CRLs[j] == c {
				return fmt.Errorf("revocation.crls[%d] repeats revocation.crls[%d]; list each CRL once", i, j)
			}
		}
	}
	return nil
}

// MaxCRLBytes bounds a CRL read from a URL or given as a value.
const MaxCRLBytes = 32 << 20

// ParseCRL parses a certificate revocation list in DER or PEM form ("X509
// CRL" block). It does not check the signature: that needs the issuer.
func ParseCRL(b []byte) (*x509.RevocationList, error) {
	if len(b) > MaxCRLBytes {
		return nil, fmt.Errorf("the CRL is %d bytes; at most %d are accepted", len(b), MaxCRLBytes)
	}
	der := b
	if t := bytes.TrimSpace(b); bytes.HasPrefix(t, []byte("-----BEGIN")) {
		der = nil
		for rest := t; ; {
			var blk *pem.Block
			blk, rest = pem.Decode(rest)
			if blk == nil {
				break
			}
			if blk.Type == "X509 CRL" {
				der = blk.Bytes
				break
			}
		}
		if der == nil {
			return nil, errors.New("the PEM text holds no \"X509 CRL\" block; give a CRL, not a certificate")
		}
	}
	l, err := x509.ParseRevocationList(der)
	if err != nil {
		if strings.Contains(err.Error(), "unsupported crl version") {
			// What 'openssl ca -gencrl' writes without a crlnumber file.
			return nil, errors.New("a version 1 CRL (one without extensions) is not supported: RFC 5280 CAs issue version 2 lists, with a CRL number (for 'openssl ca -gencrl', set crlnumber in its configuration)")
		}
		return nil, fmt.Errorf("not a CRL (DER or PEM \"X509 CRL\"): %v", err)
	}
	return l, nil
}

// A CRLSource is a live view of one certificate revocation list.
type CRLSource interface {
	// CurrentCRL returns the newest list, or nil while none is loaded. It
	// is called on the request path: no I/O, no waiting.
	CurrentCRL() *x509.RevocationList
}

// A CRLResolver is a SpecResolver that also resolves the revocation.crls
// entries that are not PEM text: references and http(s) URLs. PEM text is
// parsed by CompilePolicy itself; a resolver that is not a CRLResolver
// accepts only PEM text.
type CRLResolver interface {
	CRL(ref string) (CRLSource, error)
}

// fixedCRL is a CRL given as PEM text in the spec.
type fixedCRL struct{ l *x509.RevocationList }

func (f fixedCRL) CurrentCRL() *x509.RevocationList { return f.l }

// CRLURLSource is a CRLSource that downloads a list from an http(s) URL
// and keeps it current: it fetches again before the list's nextUpdate
// (and at least every Refresh), keeps the list it has when a download
// fails, and never replaces a list with an older one.
type CRLURLSource struct {
	url  string
	opts CRLURLOptions
	cur  atomic.Pointer[x509.RevocationList]
	mu   sync.Mutex // one download at a time
}

// CRLURLOptions tunes a CRLURLSource; the zero value is a sound default.
type CRLURLOptions struct {
	Client  *http.Client     // default: a client with a 30 s timeout
	Refresh time.Duration    // longest time between downloads (default 10 minutes)
	Retry   time.Duration    // first wait after a failed download, doubled up to Refresh (default 30 s)
	Logger  *slog.Logger     // default slog.Default()
	Now     func() time.Time // default time.Now
}

// NewCRLURLSource returns a source for the CRL at rawURL and starts
// keeping it current in the background until ctx ends. The first download
// starts at once; until it succeeds CurrentCRL returns nil.
func NewCRLURLSource(ctx context.Context, rawURL string, opts CRLURLOptions) *CRLURLSource {
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 10 * time.Minute
	}
	if opts.Retry <= 0 {
		opts.Retry = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &CRLURLSource{url: rawURL, opts: opts}
	go s.run(ctx)
	return s
}

// CurrentCRL implements CRLSource.
func (s *CRLURLSource) CurrentCRL() *x509.RevocationList { return s.cur.Load() }

func (s *CRLURLSource) run(ctx context.Context) {
	retry := s.opts.Retry
	for {
		wait := s.opts.Refresh
		if err := s.Refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.opts.Logger.Warn("guard: CRL download failed; keeping the list already loaded, if any", "url", redactURL(s.url), "err", err)
			wait, retry = retry, min(2*retry, s.opts.Refresh)
		} else {
			retry = s.opts.Retry
			if l := s.cur.Load(); l != nil && !l.NextUpdate.IsZero() {
				// Fetch again a little after nextUpdate at the latest (the
				// next list is published by then), but not in a tight loop
				// when a publisher lets its list go stale.
				if d := l.NextUpdate.Sub(s.opts.Now()) + time.Second; d < wait {
					wait = max(d, s.opts.Retry)
				}
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Refresh downloads the list now and, when it is at least as new as the
// one held, makes it current. It returns why it could not.
func (s *CRLURLSource) Refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/pkix-crl, application/x-pkcs7-crl;q=0.5, */*;q=0.1")
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", redactURL(s.url), resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxCRLBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", redactURL(s.url), err)
	}
	l, err := ParseCRL(b)
	if err != nil {
		return fmt.Errorf("GET %s: %w", redactURL(s.url), err)
	}
	old := s.cur.Load()
	if old != nil && bytes.Equal(old.Raw, l.Raw) {
		return nil // the same list: keep it, so that the accepted-certificate caches stay
	}
	if old != nil && l.ThisUpdate.Before(old.ThisUpdate) {
		return fmt.Errorf("GET %s: the list served (thisUpdate %s) is older than the one held (%s)", redactURL(s.url), fmtTime(l.ThisUpdate), fmtTime(old.ThisUpdate))
	}
	s.cur.Store(l)
	return nil
}

// redactURL drops a URL's query and user info, which may hold a token.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return clip(s, 100)
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return clip(u.String(), 200)
}

// crlEntry is one configured list with what the request path derives
// from its current version: serial index and the issuers it was verified
// against, built once per version.
type crlEntry struct {
	name string // "crls[0]" or "crls[0] (https://...)"
	src  CRLSource
	idx  atomic.Pointer[crlIndex]
	mu   sync.Mutex // one request builds the index of a new version; the others wait for it
	// indexing is the list last given to a background build (indexWithin).
	indexing atomic.Pointer[x509.RevocationList]
}

type crlIndex struct {
	l       *x509.RevocationList
	revoked map[string]time.Time // serial (big-endian bytes) → revocation time

	mu       sync.Mutex
	verified map[[sha256.Size]byte]error         // issuer certificate → signature check
	checking map[[sha256.Size]byte]chan struct{} // issuers whose check runs, closed when it is done
}

func (e *crlEntry) index(l *x509.RevocationList) *crlIndex {
	if ix := e.idx.Load(); ix != nil && ix.l == l {
		return ix
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if ix := e.idx.Load(); ix != nil && ix.l == l {
		return ix
	}
	ix := &crlIndex{l: l, revoked: make(map[string]time.Time, len(l.RevokedCertificateEntries))}
	for _, rc := range l.RevokedCertificateEntries {
		if rc.SerialNumber != nil {
			ix.revoked[string(rc.SerialNumber.Bytes())] = rc.RevocationTime
		}
	}
	e.idx.Store(ix)
	return ix
}

// indexWithin is index, except that under MustNotWait(ctx) a list not
// indexed yet is indexed in the background and nil is returned: a large
// list takes milliseconds, which an event loop must not spend.
func (e *crlEntry) indexWithin(ctx context.Context, l *x509.RevocationList) *crlIndex {
	if ix := e.idx.Load(); ix != nil && ix.l == l {
		return ix
	}
	if !MustNotWait(ctx) {
		return e.index(l)
	}
	if e.indexing.Swap(l) != l {
		go func() {
			if e.indexing.Load() == l { // not superseded by a newer list meanwhile
				e.index(l)
			}
		}()
	}
	return nil
}

// signedByWithin checks (once per issuer) that issuer signed the list:
// a caller that may wait joins a check under way rather than making its
// own; under MustNotWait(ctx) an issuer not checked yet is checked in the
// background (the signature covers the whole list, which may be large)
// and done is false.
func (ix *crlIndex) signedByWithin(ctx context.Context, issuer *x509.Certificate) (done bool, err error) {
	sum := sha256.Sum256(issuer.Raw)
	for {
		ix.mu.Lock()
		err, ok := ix.verified[sum]
		if ok {
			ix.mu.Unlock()
			return true, err
		}
		running := ix.checking[sum]
		if running == nil {
			running = make(chan struct{})
			if ix.checking == nil {
				ix.checking = map[[sha256.Size]byte]chan struct{}{}
			}
			ix.checking[sum] = running
			ix.mu.Unlock()
			if MustNotWait(ctx) {
				go ix.verify(sum, issuer, running)
				return false, nil
			}
			return true, ix.verify(sum, issuer, running)
		}
		ix.mu.Unlock()
		if MustNotWait(ctx) {
			return false, nil
		}
		<-running // then read its result (or check again, if the results were reset meanwhile)
	}
}

// verify checks the list's signature with issuer's key, remembers the
// result and closes done.
func (ix *crlIndex) verify(sum [sha256.Size]byte, issuer *x509.Certificate, done chan struct{}) error {
	err := ix.l.CheckSignatureFrom(issuer)
	ix.mu.Lock()
	if ix.verified == nil || len(ix.verified) > 64 {
		ix.verified = map[[sha256.Size]byte]error{}
	}
	ix.verified[sum] = err
	delete(ix.checking, sum)
	ix.mu.Unlock()
	close(done)
	return err
}

// revocation checks certificates accepted by chain against CRLs and OCSP.
type revocation struct {
	crls    []*crlEntry
	crlSoft bool
	ocsp    string // off, soft, hard
	client  *http.Client
	timeout time.Duration
	report  func(outcome, detail string)
	answers ocspCache

	// seen is the list of each source when the certificate cache was last
	// valid; a new list empties the cache (epoch moves on).
	mu    sync.Mutex
	seen  []atomic.Pointer[x509.RevocationList]
	epoch atomic.Uint64
}

// currentEpoch returns the certificate cache's epoch, moving it on when a
// list changed since the last call: an accepted certificate is admitted
// from the cache only under the lists it was checked against. Lists that
// did not change cost one load each and no lock.
func (rv *revocation) currentEpoch() uint64 {
	if rv == nil || len(rv.crls) == 0 {
		return 0
	}
	ep := rv.epoch.Load()
	same := true
	for i, e := range rv.crls {
		if e.src.CurrentCRL() != rv.seen[i].Load() {
			same = false
			break
		}
	}
	if same {
		return ep
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	changed := false
	for i, e := range rv.crls {
		if l := e.src.CurrentCRL(); l != rv.seen[i].Load() {
			rv.seen[i].Store(l)
			changed = true
		}
	}
	if changed {
		return rv.epoch.Add(1)
	}
	return rv.epoch.Load()
}

// outcome is what one check found.
type revocationResult struct {
	until time.Time // the cache may keep the acceptance until then
	err   *Error    // refusal
	notes []string  // what was checked, for Explain
}

// failureTTL is how long a soft failure or an OCSP failure is remembered,
// so that a responder that is down costs one wait per certificate and
// interval, not one per request.
const failureTTL = 10 * time.Second

// check runs the CRL and OCSP checks on cert, issued by issuer (from the
// verified chain). who names the certificate in refusals.
//
// Under a context from WithoutWaiting, a certificate whose OCSP answer is
// neither cached nor at hand without asking is refused with ErrWouldWait
// (the responder is asked in the background), and so is one that needs a
// new version of a CRL indexed or its signature verified (done in the
// background too: both take milliseconds for a large list). Outcomes are
// reported once the check is over, so that such a check, which the caller
// makes again once the answer came, reports nothing.
func (rv *revocation) check(ctx context.Context, cert, issuer *x509.Certificate, now time.Time, who string) (res revocationResult) {
	var outcomes [][2]string
	emit := func(outcome, detail string) { outcomes = append(outcomes, [2]string{outcome, detail}) }
	defer func() {
		if res.err == nil || !errors.Is(res.err, ErrWouldWait) {
			for _, o := range outcomes {
				rv.emit(o[0], o[1])
			}
		}
	}()
	bound := func(t time.Time) {
		if !t.IsZero() && (res.until.IsZero() || t.Before(res.until)) {
			res.until = t
		}
	}
	serial := serialString(cert.SerialNumber)
	revoked := func(at time.Time, by string) revocationResult {
		emit(RevocationRevoked, by)
		return revocationResult{err: invalidToken(fmt.Sprintf("%s, serial number %s, was revoked at %s (%s); use a certificate that is not revoked",
			who, serial, fmtTime(at), by))}
	}
	if len(rv.crls) > 0 {
		covered, notLoaded := false, false
		var problem string
		for _, e := range rv.crls {
			l := e.src.CurrentCRL()
			if l == nil {
				// It may cover the certificate: which CA issued it is not known.
				problem = cmp.Or(problem, e.name+" has no usable list yet (not downloaded or read from the vault yet, or what was loaded is not a CRL)")
				notLoaded = true
				continue
			}
			if !bytes.Equal(l.RawIssuer, issuer.RawSubject) {
				continue // another CA's list
			}
			ix := e.indexWithin(ctx, l)
			if ix == nil {
				return wouldWait(who + " is being checked against a new version of " + e.name + "; retry")
			}
			done, err := ix.signedByWithin(ctx, issuer)
			if !done {
				return wouldWait(who + " is being checked against " + e.name + ", whose signature is being verified; retry")
			}
			if err != nil {
				problem = cmp.Or(problem, fmt.Sprintf("%s names the issuer %q but is not signed by it (%s); it is not used",
					e.name, clip(issuer.Subject.String(), 200), clip(err.Error(), 100)))
				continue
			}
			// A revocation in a list past its nextUpdate is still a
			// revocation (RFC 5280 §3.3: it is permanent, bar
			// certificateHold, which a later list would lift).
			if at, ok := ix.revoked[string(cert.SerialNumber.Bytes())]; ok {
				return revoked(at, "listed in "+e.name)
			}
			if !l.NextUpdate.IsZero() && now.After(l.NextUpdate) {
				problem = cmp.Or(problem, fmt.Sprintf("%s is stale: its nextUpdate was %s (server time %s) and no newer list was loaded",
					e.name, fmtTime(l.NextUpdate), fmtTime(now)))
				continue
			}
			covered = true
			bound(l.NextUpdate)
			res.notes = append(res.notes, fmt.Sprintf("not listed in %s (current until %s)", e.name, fmtTimeOr(l.NextUpdate, "its next publication")))
		}
		switch {
		case covered:
			emit(RevocationGood, "crl")
		case problem != "" && !rv.crlSoft && notLoaded:
			// The server's state, not the caller's: answered like a key set
			// being loaded.
			emit(RevocationUnavailable, problem)
			return revocationResult{err: &Error{Status: http.StatusServiceUnavailable, Code: CodeTemporarilyUnavailable,
				Description: fmt.Sprintf("%s cannot be checked for revocation now: %s; retry later", who, problem)}}
		case problem != "" && !rv.crlSoft:
			emit(RevocationUnavailable, problem)
			return revocationResult{err: invalidToken(fmt.Sprintf("%s cannot be checked for revocation: %s; retry when the CRL is current (or ask the operator to set crlMode soft)", who, problem))}
		case problem != "":
			emit(RevocationUnavailable, problem)
			bound(now.Add(failureTTL))
			res.notes = append(res.notes, "admitted without a usable CRL (crlMode soft): "+problem)
		default:
			res.notes = append(res.notes, fmt.Sprintf("no listed CRL is issued by %q", clip(issuer.Subject.String(), 200)))
		}
	}
	if rv.ocsp == RevocationSoft || rv.ocsp == RevocationHard {
		var a *ocspAnswer
		if MustNotWait(ctx) {
			if a = rv.ocspAtHand(cert, issuer, now); a == nil {
				return wouldWait(who + " is being checked with its OCSP responder; retry")
			}
		} else {
			a = rv.ocspAnswer(ctx, cert, issuer, now)
		}
		switch a.status {
		case ocsp.Good:
			emit(RevocationGood, "ocsp")
			bound(a.until)
			res.notes = append(res.notes, fmt.Sprintf("OCSP responder %s: good until %s", a.responder, fmtTime(a.until)))
		case ocsp.Revoked:
			return revoked(a.revokedAt, "OCSP responder "+a.responder)
		default:
			outcome := RevocationUnavailable
			if a.status == ocsp.Unknown {
				outcome = RevocationUnknown
			}
			emit(outcome, a.problem)
			if rv.ocsp == RevocationHard {
				return revocationResult{err: invalidToken(fmt.Sprintf("%s cannot be checked for revocation: %s", who, a.problem))}
			}
			bound(a.until)
			res.notes = append(res.notes, "admitted without an OCSP answer (ocsp soft): "+a.problem)
		}
	}
	return res
}

// wouldWait is the result of a check that would have to wait (for a
// background step it started) under a context from WithoutWaiting.
func wouldWait(description string) revocationResult {
	return revocationResult{err: &Error{Status: http.StatusServiceUnavailable, Code: CodeTemporarilyUnavailable,
		Description: description, cause: ErrWouldWait}}
}

func (rv *revocation) emit(outcome, detail string) {
	if rv.report != nil {
		rv.report(outcome, detail)
	}
}

func fmtTimeOr(t time.Time, alt string) string {
	if t.IsZero() {
		return alt
	}
	return fmtTime(t)
}

// serialString formats a serial number as colon-free upper-case hex, as
// openssl and the Windows certificate dialog show it.
func serialString(n *big.Int) string {
	if n == nil {
		return "(none)"
	}
	return strings.ToUpper(n.Text(16))
}

// ocspAnswer is what the responder said about one certificate, or why it
// said nothing usable; status is ocsp.Good, ocsp.Revoked, ocsp.Unknown or
// -1 (no answer).
type ocspAnswer struct {
	status    int
	revokedAt time.Time
	until     time.Time
	responder string
	problem   string
}

// ocspCache holds answers by certificate (SHA-256), bounded, with one
// request in flight per certificate.
type ocspCache struct {
	mu     sync.Mutex
	m      map[[sha256.Size]byte]*ocspAnswer
	flight map[[sha256.Size]byte]*ocspCall
}

type ocspCall struct {
	done chan struct{}
	a    *ocspAnswer
}

const ocspCacheSize = 4096

func (rv *revocation) ocspAnswer(ctx context.Context, cert, issuer *x509.Certificate, now time.Time) *ocspAnswer {
	sum, c := sha256.Sum256(cert.Raw), &rv.answers
	c.mu.Lock()
	a, call := c.current(sum, now)
	if a != nil {
		c.mu.Unlock()
		return a
	}
	joined := call != nil
	if !joined {
		call = c.begin(sum)
	}
	c.mu.Unlock()
	if joined {
		select {
		case <-call.done:
			return call.a
		case <-ctx.Done():
			return &ocspAnswer{status: -1, problem: "the request ended while the OCSP responder was being asked", until: now}
		}
	}
	return rv.answer(ctx, call, sum, cert, issuer, now)
}

// current returns the answer about the certificate sum still current at
// now, else the question under way about it (both nil: neither); c.mu is
// held.
func (c *ocspCache) current(sum [sha256.Size]byte, now time.Time) (*ocspAnswer, *ocspCall) {
	if a, ok := c.m[sum]; ok && now.Before(a.until) {
		return a, nil
	}
	return nil, c.flight[sum]
}

// begin records a question about the certificate sum as under way; c.mu
// is held.
func (c *ocspCache) begin(sum [sha256.Size]byte) *ocspCall {
	call := &ocspCall{done: make(chan struct{})}
	if c.flight == nil {
		c.flight = map[[sha256.Size]byte]*ocspCall{}
	}
	c.flight[sum] = call
	return call
}

// answer asks the responder the question call stands for, caches the
// answer and hands it to those who joined.
func (rv *revocation) answer(ctx context.Context, call *ocspCall, sum [sha256.Size]byte, cert, issuer *x509.Certificate, now time.Time) *ocspAnswer {
	a := rv.askOCSP(ctx, cert, issuer, now)
	c := &rv.answers
	c.mu.Lock()
	if c.m == nil || len(c.m) >= ocspCacheSize {
		c.m = map[[sha256.Size]byte]*ocspAnswer{}
	}
	c.m[sum] = a
	delete(c.flight, sum)
	c.mu.Unlock()
	call.a = a
	close(call.done)
	return a
}

// ocspAtHand returns, for a decision that must not wait, the answer about
// cert that needs no question now: the cached one, or for a certificate
// that names no http(s) responder the answer that says so. Otherwise it
// starts the question in the background (unless one is under way) and
// returns nil.
func (rv *revocation) ocspAtHand(cert, issuer *x509.Certificate, now time.Time) *ocspAnswer {
	if !slices.ContainsFunc(cert.OCSPServer, IsCRLURL) {
		return rv.askOCSP(context.Background(), cert, issuer, now) // fails at once, asking nothing
	}
	sum, c := sha256.Sum256(cert.Raw), &rv.answers
	c.mu.Lock()
	a, call := c.current(sum, now)
	if a != nil || call != nil {
		c.mu.Unlock()
		return a // nil while a question is under way
	}
	call = c.begin(sum)
	c.mu.Unlock()
	go rv.answer(context.Background(), call, sum, cert, issuer, now)
	return nil
}

// maxOCSPResponseBytes bounds a responder's answer.
const maxOCSPResponseBytes = 64 << 10

func (rv *revocation) askOCSP(ctx context.Context, cert, issuer *x509.Certificate, now time.Time) *ocspAnswer {
	fail := func(responder, format string, args ...any) *ocspAnswer {
		return &ocspAnswer{status: -1, responder: responder, until: now.Add(failureTTL), problem: fmt.Sprintf(format, args...)}
	}
	var responder string
	for _, s := range cert.OCSPServer {
		if IsCRLURL(s) {
			responder = s
			break
		}
	}
	if responder == "" {
		return fail("", "the certificate names no http(s) OCSP responder in its Authority Information Access")
	}
	name := redactURL(responder)
	reqDER, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		return fail(name, "no OCSP request can be made for it: %v", err)
	}
	// Not the request's context: callers waiting on this answer must not
	// get a failure because the first of them left.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rv.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responder, bytes.NewReader(reqDER))
	if err != nil {
		return fail(name, "the OCSP responder URL %s is not usable: %v", name, err)
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	req.Header.Set("Accept", "application/ocsp-response")
	resp, err := rv.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fail(name, "the OCSP responder %s did not answer within %s", name, rv.timeout)
		}
		return fail(name, "the OCSP responder %s cannot be reached", name)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(name, "the OCSP responder %s answered HTTP %d", name, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOCSPResponseBytes+1))
	if err != nil || len(body) > maxOCSPResponseBytes {
		return fail(name, "the OCSP responder %s sent an unreadable or oversized answer", name)
	}
	// ParseResponseForCert checks that the answer is about this
	// certificate and signed by the issuer or a responder it delegated to
	// (RFC 6960 §4.2.2.2).
	r, err := ocsp.ParseResponseForCert(body, cert, issuer)
	if err != nil {
		return fail(name, "the OCSP responder %s sent an answer that does not verify: %s", name, clip(err.Error(), 150))
	}
	// A delegated responder's certificate must be issued for OCSP signing
	// (RFC 6960 §4.2.2.2), which ParseResponseForCert does not check:
	// otherwise any certificate of the CA, a client's own included, could
	// vouch for itself in an answer forged on the way.
	// The issuer answering itself may embed its own certificate: that is
	// not a delegate.
	if rc := r.Certificate; rc != nil && !bytes.Equal(rc.Raw, issuer.Raw) && !slices.Contains(rc.ExtKeyUsage, x509.ExtKeyUsageOCSPSigning) {
		return fail(name, "the OCSP responder %s signed its answer with a certificate (%q) that is not issued for OCSP signing", name, clip(rc.Subject.String(), 100))
	}
	const skew = 5 * time.Minute
	if r.ThisUpdate.After(now.Add(skew)) {
		return fail(name, "the OCSP responder %s sent an answer dated in the future (%s)", name, fmtTime(r.ThisUpdate))
	}
	if !r.NextUpdate.IsZero() && now.After(r.NextUpdate) {
		return fail(name, "the OCSP responder %s sent a stale answer (nextUpdate %s)", name, fmtTime(r.NextUpdate))
	}
	a := &ocspAnswer{status: r.Status, responder: name, until: r.NextUpdate}
	if a.until.IsZero() {
		// No nextUpdate: newer information is always available (RFC 6960
		// §4.2.2.1); ask again after a short while.
		a.until = now.Add(5 * time.Minute)
	}
	switch r.Status {
	case ocsp.Revoked:
		a.revokedAt = r.RevokedAt
		a.until = now.Add(24 * time.Hour) // a revocation does not end
	case ocsp.Unknown:
		a.problem = fmt.Sprintf("the OCSP responder %s does not know the certificate", name)
		a.until = now.Add(failureTTL)
	}
	return a
}
