package batch

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Status is what became of a row.
type Status string

// The statuses a report row can have.
const (
	StatusSucceeded    Status = "succeeded"
	StatusFailed       Status = "failed"
	StatusInvalid      Status = "invalid"
	StatusSkipped      Status = "skipped"
	StatusDryRun       Status = "dry_run"
	StatusNotAttempted Status = "not_attempted"
	StatusPlanned      Status = "planned" // --plan: the state was read and nothing written
)

// Statuses lists every Status in the order summaries show them.
var Statuses = []Status{StatusSucceeded, StatusFailed, StatusInvalid, StatusSkipped, StatusDryRun, StatusPlanned, StatusNotAttempted}

// The tool's own error codes. Errors from the service keep the service's
// exception name.
const (
	CodeInvalidRow          = "InvalidRow"
	CodeInvalidBoolean      = "InvalidBoolean"
	CodeMalformedToken      = "MalformedToken"
	CodeNotAccessToken      = "NotAccessToken"
	CodeMissingScope        = "MissingScope"
	CodeTokenExpired        = "TokenExpired"
	CodeMultiplePreferred   = "MultiplePreferred"
	CodePreferredNotEnabled = "PreferredNotEnabled"
	CodeNoSettings          = "NoSettings"
	CodeDuplicateUser       = "DuplicateUser"
	CodeConflictingRow      = "ConflictingRow"
	CodeInterrupted         = "Interrupted"
	CodeHalted              = "Halted"
	CodeAlreadySucceeded    = "AlreadySucceeded"
	CodeRegionMismatch      = "RegionMismatch"
	CodeUserNotInPool       = "UserNotInPool"
	CodeUnchanged           = "Unchanged"  // --skip-unchanged: the user is already as asked
	CodeNotApplied          = "NotApplied" // --verify: the state read back is not as asked

	// CodeTimeout and CodeConnectionError name failures that never reached
	// an answer from the service.
	CodeTimeout         = "Timeout"
	CodeConnectionError = "ConnectionError"
)

// A row's Action.
const (
	ActionChange = "change"
	ActionNone   = "none"
)

// RowError is a problem with one row. Its message never holds a token.
type RowError struct {
	Code    string
	Message string
}

func (e *RowError) Error() string { return e.Code + ": " + e.Message }

func rowErr(code, format string, args ...any) *RowError {
	return &RowError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Result is the outcome of one manifest row: one report row.
type Result struct {
	Row          int
	ID           string
	Username     string
	Sub          string
	Region       string
	UserPoolID   string // the admin row's pool, or the token's issuer's
	TokenSHA256  string
	Status       Status
	ErrorCode    string
	ErrorMessage string
	Attempts     int
	HTTPStatus   int
	RequestID    string
	StartedAt    time.Time
	Duration     time.Duration
	// Request is the JSON body sent, or that a dry run would send, with the
	// token replaced by <redacted:TokenSHA256>.
	Request string
	// Action is what the row's write does to the user, when the state was
	// read before it: ActionChange or ActionNone.
	Action string
	// Before is the user's state read before any write, After the state
	// read back after it (--verify) or, unread, the state asked for.
	Before, After State

	throttled int // calls the service throttled
}

func (r *Result) fail(s Status, e *RowError) {
	r.Status, r.ErrorCode, r.ErrorMessage = s, e.Code, e.Message
}

// stopped is why sending ended, as a row's error: Halted or Interrupted.
func stopped(sending context.Context, what string) *RowError {
	var he *HaltError
	if errors.As(context.Cause(sending), &he) {
		return rowErr(CodeHalted, "the run halted before %s: %s", what, he.Reason)
	}
	return rowErr(CodeInterrupted, "the run was interrupted before %s", what)
}

// notSent is the result of a row that was ready but not sent.
func notSent(sending context.Context, res Result, now time.Time) Result {
	res.StartedAt = now.UTC()
	res.fail(StatusNotAttempted, stopped(sending, "this row was sent"))
	return res
}
