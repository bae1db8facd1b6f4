package batch

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
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
		if err != nil || !(f > 0 && f <= 100) { // NaN is neither
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

// earlyHaltAfter is how many calls failing alike, from the start, are
// enough to know that every row will.
const earlyHaltAfter = 20

// failureWatch decides when a run must halt. Each row in flight tells it
// of each call, and of its end before its slot in the pool goes to the
// next row, so that once it says halt no further row is sent, however
// many workers there are.
type failureWatch struct {
	limit Threshold

	mu        sync.Mutex
	attempted int // rows that made calls
	failed    int
	// The first calls, while all failed alike.
	alike     int
	alikeCode string
	alikeMsg  string
}

// call counts one call's outcome (c is nil for a success) and returns why
// the run must halt, or "". An admin call that no row can pass (the
// credentials refused or not allowed, the pool not found) halts the run
// at once, whatever the threshold.
func (w *failureWatch) call(c *Class, admin bool) string {
	if admin && c != nil {
		if reason := adminHalt(c); reason != "" {
			return reason
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.alike < 0 {
		return ""
	}
	switch {
	case c != nil && c.NoRowCanPass && (w.alike == 0 || c.Code == w.alikeCode && c.Message == w.alikeMsg):
		w.alike++
		w.alikeCode, w.alikeMsg = c.Code, c.Message
	default:
		w.alike = -1 // a call went differently: the failures are not the pool's or the network's
		return ""
	}
	if w.alike == earlyHaltAfter {
		return fmt.Sprintf("the first %d calls all failed with %s (%s): the user pool, the account, the endpoint or the network, not the users, is the problem", earlyHaltAfter, w.alikeCode, w.alikeMsg)
	}
	return ""
}

// adminHalt is why an admin call's error halts the run, with what to fix;
// "" when it does not.
func adminHalt(c *Class) string {
	what := fmt.Sprintf("%s (%s)", c.Code, c.Message)
	switch {
	case c.Code == "ExpiredTokenException":
		return what + ": the AWS credentials have expired; get fresh ones (aws sso login, or new session credentials) and run again with --resume"
	case c.Code == "AccessDeniedException" || c.Code == "NotAuthorizedException" && c.Credentials:
		return what + ": the AWS credentials may not make this call; grant cognito-idp:AdminSetUserMFAPreference on the user pool's ARN (see the README's IAM policy)"
	case c.Credentials:
		return what + ": the AWS credentials were refused; check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), or --profile"
	case c.Code == "ResourceNotFoundException":
		return what + ": the user pool was not found; check user_pool_id (or --user-pool-id) and that the pool's region prefix is right"
	}
	return ""
}

// row counts a finished row and returns why the run must halt, or "".
func (w *failureWatch) row(r Result) string {
	if r.Attempts == 0 {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attempted++
	if r.Status == StatusFailed {
		w.failed++
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

// HaltError is a run stopped by its failure threshold.
type HaltError struct{ Reason string }

func (e *HaltError) Error() string { return "halted: " + e.Reason }
