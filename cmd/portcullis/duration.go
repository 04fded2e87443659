package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxExpiresDays bounds --expires so that the arithmetic cannot overflow.
const maxExpiresDays = 100 * 366

// Client secret lifetime bounds of the admin API (expiresInSeconds): the
// CLI checks them first so that it answers in the unit the user typed.
const (
	minSecretLifetime = time.Hour
	maxSecretDays     = 2 * 365
)

// parseExpires reads a validity such as 180d, 26w, 1y (365 days) or a Go
// duration such as 720h, and returns it in whole seconds, between one hour
// and two years (the server's bounds); an error states the bound in the
// unit the user typed.
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
		if n > maxExpiresDays/days || n*days > maxSecretDays {
			return 0, fmt.Errorf("--expires %s: a client secret is valid for at most %d%c (2 years); give --expires %d%c or less",
				s, maxSecretDays/days, unit, maxSecretDays/days, unit)
		}
		return n * days * 86400, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, bad
	}
	if max := time.Duration(maxSecretDays) * 24 * time.Hour; d > max {
		return 0, fmt.Errorf("--expires %s: a client secret is valid for at most %s (2 years); give --expires %s or less", s, max, max)
	}
	if d < minSecretLifetime {
		return 0, fmt.Errorf("--expires %s: a client secret is valid for at least %s; give --expires 1h or more", s, minSecretLifetime)
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
