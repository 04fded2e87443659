package jws

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// NumericDate is a JWT NumericDate (RFC 7519 §2): seconds since the epoch,
// integer or fractional, decoded to UTC.
type NumericDate struct{ time.Time }

// maxNumericDate bounds accepted dates (year 5138), so that no arithmetic
// on them overflows.
const maxNumericDate = 1e11

// UnmarshalJSON accepts a non-negative JSON number below 1e11.
func (d *NumericDate) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f >= maxNumericDate {
		return fmt.Errorf("not a NumericDate (seconds since 1970): %s", Clip(string(b), 40))
	}
	sec, frac := math.Modf(f)
	d.Time = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	return nil
}

// Audience is a JWT aud: one string or an array of strings (RFC 7519 §4.1.3).
type Audience []string

// UnmarshalJSON accepts a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*a = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = many
	return nil
}
