package batch

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Threshold is how many failed rows a run tolerates: a count, or a percent
// of the rows that made calls. The zero value never halts.
type Threshold struct {
	Count   int     // halt when more rows than this have failed
	Percent float64 // halt when more than this percent of attempted rows failed
}

// minAttemptedForPercent is how many rows must have made calls before a
// percentage means anything.
const minAttemptedForPercent = 100

// ParseThreshold reads "N", "N%" or "off".
func ParseThreshold(s string) (Threshold, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return Threshold{}, nil
	}
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f <= 0 || f > 100 {
			return Threshold{}, errors.New("want N, N% (more than 0, at most 100) or off")
		}
		return Threshold{Percent: f}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return Threshold{}, errors.New("want N (1 or more), N% or off")
	}
	return Threshold{Count: n}, nil
}

func (t Threshold) String() string {
	switch {
	case t.Count > 0:
		return strconv.Itoa(t.Count)
	case t.Percent > 0:
		return strconv.FormatFloat(t.Percent, 'f', -1, 64) + "%"
	}
	return "off"
}

// poolWide are error codes that say the pool or the account, not the user,
// is the problem: every other row would fail the same way.
var poolWide = map[string]bool{"ResourceNotFoundException": true, "ForbiddenException": true}

// earlyHaltAfter is how many rows failing alike, from the start, are
// enough to know that every row will.
const earlyHaltAfter = 20

// failureWatch decides, from results in the order they finish, when a run
// must halt.
type failureWatch struct {
	limit     Threshold
	attempted int
	failed    int
	// The first rows that made calls, while all failed alike.
	alike     int
	alikeCode string
	alikeMsg  string
}

// add counts r and returns why the run must halt, or "".
func (w *failureWatch) add(r Result) string {
	if r.Attempts == 0 {
		return ""
	}
	w.attempted++
	if r.Status == StatusFailed {
		w.failed++
	}
	if w.alike >= 0 {
		switch {
		case r.Status == StatusFailed && (w.alike == 0 || r.ErrorCode == w.alikeCode && r.ErrorMessage == w.alikeMsg):
			w.alike++
			w.alikeCode, w.alikeMsg = r.ErrorCode, r.ErrorMessage
		default:
			w.alike = -1 // a row went differently: the failures are not pool-wide
		}
		if w.alike == earlyHaltAfter && poolWideError(w.alikeCode, w.alikeMsg) {
			return fmt.Sprintf("the first %d rows sent all failed with %s (%s): the user pool or account, not the users, is the problem", earlyHaltAfter, w.alikeCode, w.alikeMsg)
		}
	}
	switch {
	case w.limit.Count > 0 && w.failed > w.limit.Count:
		return fmt.Sprintf("%d rows failed, more than --max-failures %s", w.failed, w.limit)
	case w.limit.Percent > 0 && w.attempted >= minAttemptedForPercent &&
		float64(w.failed)*100 > w.limit.Percent*float64(w.attempted):
		return fmt.Sprintf("%d of %d rows sent failed, more than --max-failures %s", w.failed, w.attempted, w.limit)
	}
	return ""
}

// poolWideError reports an error that every row would get: the pool is
// gone or forbidden, or not set up for the factor the rows ask for.
func poolWideError(code, msg string) bool {
	if poolWide[code] {
		return true
	}
	m := strings.ToLower(msg)
	return code == "InvalidParameterException" && (strings.Contains(m, "pool") || strings.Contains(m, "configur"))
}

// HaltError is a run stopped by its failure threshold.
type HaltError struct{ Reason string }

func (e *HaltError) Error() string { return "halted: " + e.Reason }
