package outbound

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRefreshTime_FiveMinutesAheadOrAtHalfLife(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		life, want time.Duration // want: after t0
	}{
		{time.Hour, 55 * time.Minute},
		{10 * time.Minute, 5 * time.Minute},
		{4 * time.Minute, 2 * time.Minute},
		{time.Second, 500 * time.Millisecond},
		{0, 0},
		{-time.Minute, 0},
	} {
		t.Run(c.life.String(), func(t *testing.T) {
			if got := refreshTime(t0, t0.Add(c.life)).Sub(t0); got != c.want {
				t.Errorf("refresh %s after issue, want %s", got, c.want)
			}
		})
	}
}

func TestBackoff_DoublesToAMinuteWithJitter(t *testing.T) {
	for _, c := range []struct {
		n        int
		min, max time.Duration
	}{
		{1, 800 * time.Millisecond, 1200 * time.Millisecond},
		{2, 1600 * time.Millisecond, 2400 * time.Millisecond},
		{4, 6400 * time.Millisecond, 9600 * time.Millisecond},
		{7, 48 * time.Second, 72 * time.Second},
		{1000, 48 * time.Second, 72 * time.Second},
	} {
		t.Run(fmt.Sprint(c.n), func(t *testing.T) {
			lo, hi := backoff(c.n, 0), backoff(c.n, 0.999999)
			if lo != c.min || hi < c.max-time.Millisecond || hi > c.max {
				t.Errorf("backoff(%d) in [%s, %s], want [%s, %s]", c.n, lo, hi, c.min, c.max)
			}
		})
	}
}

func TestCachedToken_PrintsWithoutTheToken(t *testing.T) {
	tok := &cachedToken{header: "Bearer eyJsecret.token.value", expiresAt: time.Now()}
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %s", tok, tok, tok)} {
		if strings.Contains(s, "eyJsecret") {
			t.Errorf("printed the token: %s", s)
		}
	}
}
