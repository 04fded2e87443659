package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxExpiresDays bounds --expires so that the arithmetic cannot overflow;
// the server applies its own, smaller maximum (2 years).
const maxExpiresDays = 100 * 366

// parseExpires reads a validity such as 180d, 26w, 1y (365 days) or a Go
// duration such as 720h, and returns it in whole seconds (at least 1).
func parseExpires(s string) (int64, error) {
	bad := fmt.Errorf("--expires %q: use a number of days, weeks or years (180d, 26w, 1y) or a Go duration (720h)", s)
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, bad
	}
	if unit := s[len(s)-1]; unit == 'd' || unit == 'w' || unit == 'y' {
		n, err := strconv.ParseInt(s[:len(s)-1], 10, 64)
		if err != nil || n <= 0 {
			return 0, bad
		}
		days := map[byte]int64{'d': 1, 'w': 7, 'y': 365}[unit]
		if n > maxExpiresDays/days {
			return 0, fmt.Errorf("--expires %q is too long", s)
		}
		return n * days * 86400, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad
	}
	if d < time.Second {
		return 0, fmt.Errorf("--expires %q: must be at least one second", s)
	}
	return int64(d / time.Second), nil
}

// Token lifetime bounds of the admin API (accessTokenLifetimeSeconds).
const (
	minTokenLifetime = 5 * time.Minute
	maxTokenLifetime = 24 * time.Hour
)

// parseTokenLifetime reads --token-lifetime (a Go duration, 5m to 24h).
func parseTokenLifetime(s string) (int, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("--token-lifetime %q: use a duration such as 1h or 90m", s)
	}
	if d < minTokenLifetime || d > maxTokenLifetime || d%time.Second != 0 {
		return 0, fmt.Errorf("--token-lifetime %s: must be whole seconds between 5m and 24h", d)
	}
	return int(d / time.Second), nil
}
