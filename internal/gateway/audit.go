package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

const defaultAuditQueue = 8192

// auditRecord is one decision, queued by value: the request path only
// copies it into the channel; encoding happens on the writer goroutine.
type auditRecord struct {
	at               time.Time
	id               string
	tenant, api      string
	method, path     string
	credential       string
	subject, appID   string
	tenantID, credID string
	outcome          string
	status           int
	reason           reason
	detail           string // the refusal's description (never holds a credential)
	upstream         time.Duration
	source           netip.Addr
}

// appendAuditLine appends r as one JSON line. It is written by hand, not
// with encoding/json: the writer encodes every request and reflection
// would cost as much as the rest of the decision. It holds identifiers of
// the credential, never the credential.
func appendAuditLine(b []byte, r *auditRecord) []byte {
	b = append(b, `{"time":"`...)
	b = appendRFC3339Nano(b, r.at)
	b = append(b, `","decisionId":`...)
	b = appendJSONString(b, r.id)
	if r.tenant != "" || r.api != "" {
		b = append(b, `,"tenant":`...)
		b = appendJSONString(b, r.tenant)
		b = append(b, `,"api":`...)
		b = appendJSONString(b, r.api)
	}
	b = append(b, `,"method":`...)
	b = appendJSONString(b, r.method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, r.path)
	if r.credential != "" {
		b = append(b, `,"credentialMethod":`...)
		b = appendJSONString(b, r.credential)
	}
	if r.subject != "" || r.appID != "" || r.tenantID != "" || r.credID != "" {
		b = append(b, `,"principal":{`...)
		sep := ""
		for _, f := range [...]struct{ k, v string }{{"subject", r.subject}, {"appId", r.appID}, {"tenantId", r.tenantID}, {"credentialId", r.credID}} {
			if f.v != "" {
				b = append(b, sep...)
				b = append(b, '"')
				b = append(b, f.k...)
				b = append(b, `":`...)
				b = appendJSONString(b, f.v)
				sep = ","
			}
		}
		b = append(b, '}')
	}
	b = append(b, `,"outcome":"`...)
	b = append(b, r.outcome...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	b = append(b, `,"reason":"`...)
	b = append(b, r.reason.String()...)
	b = append(b, '"')
	if r.detail != "" {
		b = append(b, `,"detail":`...)
		b = appendJSONString(b, r.detail)
	}
	if r.upstream > 0 {
		b = append(b, `,"upstreamMs":`...)
		b = appendMillis(b, r.upstream.Microseconds())
	}
	if r.source.IsValid() {
		b = append(b, `,"sourceIp":"`...)
		b = r.source.AppendTo(b)
		b = append(b, '"')
	}
	return append(b, "}\n"...)
}

// appendRFC3339Nano appends t in UTC as time.RFC3339Nano does, without
// its general layout machinery (the audit writer formats every decision).
func appendRFC3339Nano(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	if ns := t.Nanosecond(); ns != 0 {
		digits := 9
		for ns%10 == 0 {
			ns /= 10
			digits--
		}
		b = append(b, '.')
		b = appendDigits(b, ns, digits)
	}
	return append(b, 'Z')
}

// appendDigits appends n (0 <= n < 10^width) in exactly width digits.
func appendDigits(b []byte, n, width int) []byte {
	var d [9]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:width]...)
}

// appendMillis appends us microseconds as milliseconds, as
// strconv.AppendFloat(float64(us)/1000, 'f', -1, 64) does: at most three
// decimals, trailing zeros dropped.
func appendMillis(b []byte, us int64) []byte {
	if us < 0 {
		b = append(b, '-')
		us = -us
	}
	b = strconv.AppendInt(b, us/1000, 10)
	if frac := int(us % 1000); frac != 0 {
		digits := 3
		for frac%10 == 0 {
			frac /= 10
			digits--
		}
		b = append(b, '.')
		b = appendDigits(b, frac, digits)
	}
	return b
}

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		// Runs of printable ASCII other than '"' and '\\' are copied whole.
		j := i
		for j < len(s) && s[j] >= 0x20 && s[j] < 0x7f && s[j] != '"' && s[j] != '\\' {
			j++
		}
		if j > i {
			b = append(b, s[i:j]...)
			if i = j; i == len(s) {
				break
			}
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, `\u202`...)
			b = append(b, hexDigits[r&0xf])
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// The audit writer's pace: it drains its queue every auditTick and writes
// to the sink every auditFlushEvery (and whenever its 64 KiB buffer fills).
const (
	auditTick       = 10 * time.Millisecond
	auditFlushEvery = 100 * time.Millisecond
)

// auditWriter writes audit lines from a bounded queue on its own
// goroutine. When the queue is full the line is dropped and counted: the
// request path never waits for the audit sink. A slow sink holds at most
// two queues' worth of records: the batch being written and the queue. The queue is a slice under
// a mutex that the writer swaps out whole on each tick: one short lock per
// decision and one per batch, where a channel would take a lock on each
// side of every record.
type auditWriter struct {
	mu      sync.Mutex
	queue   []auditRecord // appended by add, taken whole by the writer
	size    int           // the queue's bound
	closed  bool          // the writer has drained for the last time
	flushes chan chan struct{}
	stop    chan struct{}
	done    chan struct{}
	dropped prometheus.Counter
	log     *slog.Logger
}

func newAuditWriter(w io.Writer, size int, dropped prometheus.Counter, log *slog.Logger) *auditWriter {
	a := &auditWriter{size: size, flushes: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
		dropped: dropped, log: log}
	go a.run(w)
	return a
}

func (a *auditWriter) add(r auditRecord) {
	a.mu.Lock()
	if a.closed || len(a.queue) >= a.size {
		a.mu.Unlock()
		a.dropped.Inc()
		return
	}
	a.queue = append(a.queue, r)
	a.mu.Unlock()
}

// take returns the queued records and leaves spare (emptied) as the new
// queue; last marks the queue closed, so that later adds are counted as
// dropped.
func (a *auditWriter) take(spare []auditRecord, last bool) []auditRecord {
	a.mu.Lock()
	q := a.queue
	a.queue = spare[:0]
	a.closed = a.closed || last
	a.mu.Unlock()
	return q
}

func (a *auditWriter) run(sink io.Writer) {
	defer close(a.done)
	w := bufio.NewWriterSize(sink, 64<<10)
	failed := false
	pending := 0 // lines in w since the last good flush
	var line []byte
	// fail drops what the buffer holds after a write error: bufio keeps
	// its first error for good, so without a Reset one full disk would end
	// the audit log for the rest of the process. The loss is counted.
	fail := func(err error) {
		a.dropped.Add(float64(pending))
		pending = 0
		w.Reset(sink)
		if !failed {
			failed = true // logged once per outage: a broken sink must not flood the log
			a.log.Error("gateway: audit log write failed; lines are dropped and counted until it works again", "err", err)
		}
	}
	write := func(r *auditRecord) {
		line = appendAuditLine(line[:0], r)
		pending++
		if _, err := w.Write(line); err != nil {
			fail(err)
		}
	}
	flush := func() {
		if err := w.Flush(); err != nil {
			fail(err)
			return
		}
		pending = 0
		if failed {
			failed = false
			a.log.Info("gateway: audit log writes again")
		}
	}
	// The writer wakes on a tick, not per line: at tens of thousands of
	// decisions a second a wake-up per line costs the request path more
	// (scheduler work) than writing the line. Lines reach the sink within
	// about auditFlushEvery.
	var spare []auditRecord
	drain := func(last bool) {
		batch := a.take(spare, last)
		for i := range batch {
			write(&batch[i])
		}
		clear(batch) // the records' strings are garbage now
		spare = batch
	}
	tick := time.NewTicker(auditTick)
	defer tick.Stop()
	sinceFlush := 0
	for {
		select {
		case <-tick.C:
			drain(false)
			if sinceFlush++; sinceFlush >= int(auditFlushEvery/auditTick) && w.Buffered() > 0 {
				flush()
				sinceFlush = 0
			}
		case c := <-a.flushes:
			drain(false)
			flush()
			close(c)
		case <-a.stop:
			drain(true)
			flush()
			return
		}
	}
}

// flush waits until the lines queued before it are written.
func (a *auditWriter) flush(ctx context.Context) error {
	c := make(chan struct{})
	select {
	case a.flushes <- c:
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close writes what is queued and stops the writer; lines added after
// it are dropped and counted.
func (a *auditWriter) close(ctx context.Context) error {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
