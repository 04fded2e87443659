package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiter_OneLinePerCauseAndIntervalWithTheSuppressedCount(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), 10*time.Second, func() time.Time { return now })
	steps := []struct {
		name    string
		advance time.Duration
		cause   string
		written bool
		want    string // in the line written
	}{
		{"first line of a cause is written", 0, "db", true, "msg=db"},
		{"same cause within the interval is held back", time.Second, "db", false, ""},
		{"again held back", time.Second, "db", false, ""},
		{"another cause has its own interval", 0, "audit", true, "msg=audit"},
		{"after the interval the line carries the count", 10 * time.Second, "db", true, "suppressed=2"},
		{"and the count starts over", 10 * time.Second, "db", true, "msg=db"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			now = now.Add(s.advance)
			buf.Reset()
			if got := l.Error(s.cause, s.cause); got != s.written {
				t.Fatalf("written = %v, want %v", got, s.written)
			}
			if s.written && !strings.Contains(buf.String(), s.want) {
				t.Fatalf("line %q does not contain %q", buf.String(), s.want)
			}
			if !s.written && buf.Len() != 0 {
				t.Fatalf("held-back line was written: %q", buf.String())
			}
			if s.name == "and the count starts over" && strings.Contains(buf.String(), "suppressed") {
				t.Fatalf("count not reset: %q", buf.String())
			}
		})
	}
}

func TestLimiter_ResetWritesTheCountAndLetsTheNextLineThrough(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1000, 0)
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Minute, func() time.Time { return now })
	l.Error("db", "down")
	l.Error("db", "down")
	l.Error("db", "down")
	buf.Reset()
	l.Reset("db", "database back")
	if !strings.Contains(buf.String(), "database back") || !strings.Contains(buf.String(), "suppressed=2") {
		t.Fatalf("reset line: %q", buf.String())
	}
	buf.Reset()
	if !l.Error("db", "down again") {
		t.Fatal("first line after Reset was held back")
	}
	buf.Reset()
	l.Reset("quiet", "nothing to say")
	if buf.Len() != 0 {
		t.Fatalf("reset of a cause without suppressed lines wrote %q", buf.String())
	}
}
