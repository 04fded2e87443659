package vault

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ISODuration is an ISO 8601 duration as Key Vault's rotation policies carry
// it: PnYnMnWnD and, after T, nHnMnS with whole numbers (P90D, P3M, PT48H,
// P1Y10D). Years, months and days are calendar units: they are added to a
// point in time with time.AddDate, so P1M from 31 January ends on 3 March
// (Go's normalisation), as a calendar would count it.
type ISODuration struct {
	Years, Months, Weeks, Days int
	Hours, Minutes, Seconds    int
}

// maxISOComponent bounds each number so that the time part cannot
// overflow time.Duration (a million hours is 114 years).
const maxISOComponent = 1_000_000

// ParseISODuration parses an ISO 8601 duration with whole-number components
// (fractions, negative and week-mixed forms beyond PnW are refused).
func ParseISODuration(s string) (ISODuration, error) {
	var d ISODuration
	rest, ok := strings.CutPrefix(strings.ToUpper(s), "P")
	if !ok || rest == "" || rest == "T" {
		return d, fmt.Errorf("%q is not an ISO 8601 duration: write it like P90D, P3M, PT48H or P1Y10D", s)
	}
	datePart, timePart, hasTime := strings.Cut(rest, "T")
	if hasTime && timePart == "" {
		return d, fmt.Errorf("%q is not an ISO 8601 duration: nothing follows T", s)
	}
	if err := parseISOPart(s, datePart, "YMWD", []*int{&d.Years, &d.Months, &d.Weeks, &d.Days}); err != nil {
		return d, err
	}
	if err := parseISOPart(s, timePart, "HMS", []*int{&d.Hours, &d.Minutes, &d.Seconds}); err != nil {
		return d, err
	}
	return d, nil
}

func parseISOPart(whole, part, units string, into []*int) error {
	next := 0 // components must come in the order of units, each once
	for part != "" {
		i := strings.IndexFunc(part, func(r rune) bool { return r < '0' || r > '9' })
		if i <= 0 {
			return fmt.Errorf("%q is not an ISO 8601 duration: expected a whole number before each unit (%s)", whole, units)
		}
		n, err := strconv.Atoi(part[:i])
		if err != nil || n > maxISOComponent {
			return fmt.Errorf("%q is not a usable ISO 8601 duration: %s is too large", whole, part[:i])
		}
		u := strings.IndexByte(units[next:], part[i])
		if u < 0 {
			return fmt.Errorf("%q is not an ISO 8601 duration: unit %q is unknown or out of order (use %s, whole numbers)", whole, part[i], units)
		}
		*into[next+u] = n
		next += u + 1
		part = part[i+1:]
	}
	return nil
}

// AddTo returns t moved forward by d.
func (d ISODuration) AddTo(t time.Time) time.Time {
	return t.AddDate(d.Years, d.Months, 7*d.Weeks+d.Days).
		Add(time.Duration(d.Hours)*time.Hour + time.Duration(d.Minutes)*time.Minute + time.Duration(d.Seconds)*time.Second)
}

// SubtractFrom returns t moved back by d.
func (d ISODuration) SubtractFrom(t time.Time) time.Time {
	return t.AddDate(-d.Years, -d.Months, -(7*d.Weeks + d.Days)).
		Add(-(time.Duration(d.Hours)*time.Hour + time.Duration(d.Minutes)*time.Minute + time.Duration(d.Seconds)*time.Second))
}

// String writes d in canonical form (P0D when zero).
func (d ISODuration) String() string {
	var b strings.Builder
	b.WriteByte('P')
	for _, c := range []struct {
		n int
		u byte
	}{{d.Years, 'Y'}, {d.Months, 'M'}, {d.Weeks, 'W'}, {d.Days, 'D'}} {
		if c.n != 0 {
			b.WriteString(strconv.Itoa(c.n))
			b.WriteByte(c.u)
		}
	}
	if d.Hours != 0 || d.Minutes != 0 || d.Seconds != 0 {
		b.WriteByte('T')
		for _, c := range []struct {
			n int
			u byte
		}{{d.Hours, 'H'}, {d.Minutes, 'M'}, {d.Seconds, 'S'}} {
			if c.n != 0 {
				b.WriteString(strconv.Itoa(c.n))
				b.WriteByte(c.u)
			}
		}
	}
	if b.Len() == 1 {
		return "P0D"
	}
	return b.String()
}
