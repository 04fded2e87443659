// Package ratelog keeps a failure that repeats from flooding the log: a
// Limiter writes the first line of each cause, then at most one line per
// cause and interval, carrying the number of lines it held back since the
// last one ("suppressed"). An outage of the database, which makes every
// request and every retry fail the same way, thus costs a few lines a
// minute instead of thousands.
package ratelog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is how often a Limiter lets a line of one cause through.
const DefaultInterval = 10 * time.Second

// maxCauses bounds the causes a Limiter remembers; past it, it starts over
// (causes are a fixed set of call sites, so this only guards a mistake).
const maxCauses = 1024

// Limiter rate-limits log lines per cause. Safe for concurrent use; the
// zero value is not usable, call New.
type Limiter struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu     sync.Mutex
	causes map[string]*causeState
}

type causeState struct {
	last       time.Time
	suppressed int
}

// New returns a Limiter writing to log, one line per cause per interval
// (DefaultInterval when interval <= 0). now is the clock; time.Now when nil.
func New(log *slog.Logger, interval time.Duration, now func() time.Time) *Limiter {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{log: log, interval: interval, now: now, causes: map[string]*causeState{}}
}

// Log writes msg with args at level unless a line of the same cause was
// written less than the interval ago; then it only counts it. A line that
// follows suppressed ones carries "suppressed", their number. It reports
// whether the line was written.
func (l *Limiter) Log(level slog.Level, cause, msg string, args ...any) bool {
	now := l.now()
	l.mu.Lock()
	c := l.causes[cause]
	if c == nil {
		if len(l.causes) >= maxCauses {
			clear(l.causes)
		}
		c = &causeState{}
		l.causes[cause] = c
	} else if now.Sub(c.last) < l.interval {
		c.suppressed++
		l.mu.Unlock()
		return false
	}
	n := c.suppressed
	c.last, c.suppressed = now, 0
	l.mu.Unlock()
	if n > 0 {
		args = append(args[:len(args):len(args)], "suppressed", n)
	}
	l.log.Log(context.Background(), level, msg, args...)
	return true
}

// Error logs at error level; see Log.
func (l *Limiter) Error(cause, msg string, args ...any) bool {
	return l.Log(slog.LevelError, cause, msg, args...)
}

// Warn logs at warning level; see Log.
func (l *Limiter) Warn(cause, msg string, args ...any) bool {
	return l.Log(slog.LevelWarn, cause, msg, args...)
}

// Reset forgets cause, so that its next line is written at once (call it
// when the condition ended: the first failure of the next outage is seen).
// A line counting what was suppressed since the last one is written first
// if there is any, with msg.
func (l *Limiter) Reset(cause, msg string, args ...any) {
	l.mu.Lock()
	c := l.causes[cause]
	delete(l.causes, cause)
	l.mu.Unlock()
	if c != nil && c.suppressed > 0 {
		l.log.Info(msg, append(args[:len(args):len(args)], "suppressed", c.suppressed)...)
	}
}
