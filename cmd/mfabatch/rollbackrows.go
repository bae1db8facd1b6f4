package main

// What rollback puts back: the report's rows that changed, each made into
// a manifest row with the settings of its before state.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/report"
)

// rollbackColumns are the report columns rollback reads.
var rollbackColumns = []string{"row", "id", "username", "user_pool_id", "token_sha256", "status", "error_code", "request", "before"}

// Why a changed row is left out of the manifest, in the order the last
// line counts them.
const (
	leftNoBefore = iota
	leftBadBefore
	leftPasskeyOnly
	leftTwice
	leftEarlier
	leftNoToken
	leftExpired
	leftCut
	leftReasons
)

var leftNames = [leftReasons]string{"no before state", "unreadable before state", "passkey only", "user changed twice",
	"done by an earlier run", "token not in the manifest", "token expired", "cut short"}

// tokenRow is a token row to put back, until the manifest gives its
// token: with its key, some 55 bytes a row in the map (measured at a
// million rows), so a report of millions fits.
type tokenRow struct {
	row      int32
	settings batch.Settings
	matched  bool // the manifest had its token
}

// rollback is one rollback command's work: it reads the report, and the
// manifest for token rows, into a spool, then writes the spool out.
type rollback struct {
	f          *rollbackFlags
	reportPath string
	stdin      io.Reader
	stderr     io.Writer
	st         *storage
	out        *spool

	tokens  map[uint64]tokenRow // token rows to put back, by fingerprint
	users   map[uint64]struct{} // admin rows put back, by report.UserKey
	first   [2]int              // the first row put back of each mode: token, admin
	expires time.Time           // the first expiry of the tokens written
	count   rollbackCount
}

// rollbackCount is what the last lines say.
type rollbackCount struct {
	rows, changed, put int
	unchanged          map[string]int // rows that changed nothing, by status
	passkeys           int            // put back without their passkey setting
	left               [leftReasons]int
}

func newRollback(f *rollbackFlags, reportPath string, stdin io.Reader, stderr io.Writer) *rollback {
	return &rollback{f: f, reportPath: reportPath, stdin: stdin, stderr: stderr,
		st:     &storage{setup: &awsSetup{f: &runFlags{profile: f.profile}}},
		tokens: map[uint64]tokenRow{}, users: map[uint64]struct{}{},
		count: rollbackCount{unchanged: map[string]int{}}}
}

func (rb *rollback) close() {
	if rb.out != nil {
		rb.out.f.Close()
	}
}

// run reads the report (and the manifest), writes the manifest and says
// what it holds.
func (rb *rollback) run(ctx context.Context, stdout io.Writer) error {
	if err := rb.readReport(ctx); err != nil {
		return err
	}
	if len(rb.tokens) > 0 {
		if err := rb.readTokens(ctx); err != nil {
			return err
		}
	}
	if err := rb.write(ctx, stdout); err != nil {
		return err
	}
	rb.tell()
	return nil
}

func (rb *rollback) leftOut() int {
	n := 0
	for _, c := range rb.count.left {
		n += c
	}
	return n
}

// leave counts a changed row left out, and says which and why.
func (rb *rollback) leave(reason int, who, why string) {
	rb.count.left[reason]++
	fmt.Fprintf(rb.stderr, "mfabatch: left out: %s: %s\n", who, why)
}

// readReport reads the report's rows: admin rows go to the spool, token
// rows wait for their tokens.
func (rb *rollback) readReport(ctx context.Context) error {
	in, err := rb.openReport(ctx)
	if err != nil {
		return err
	}
	defer in.Close()
	name := "the report " + rb.reportPath
	rows, err := report.NewReader(in, rollbackColumns...)
	if err != nil {
		return usageError{name + ": " + err.Error(), "give rollback the report of a run that read the users' state (--skip-unchanged or --verify): its before column is what is put back"}
	}
	for ctx.Err() == nil {
		row, err := rows.Next()
		var cut *report.CutError
		switch {
		case err == io.EOF:
			return nil
		case errors.As(err, &cut):
			rb.leave(leftCut, fmt.Sprintf("report line %d", cut.Line), "cut short, as a run stopped mid-write leaves it: the row on it cannot be read, and its user may have been changed")
			return nil
		case err != nil:
			return usageError{name + ": " + err.Error(), ""}
		}
		if err := rb.take(row); err != nil {
			return err
		}
	}
	return context.Cause(ctx)
}

// openReport opens the report: standard input, a file or an S3 object.
// A pipe is read so that a signal ends a read that waits on it.
func (rb *rollback) openReport(ctx context.Context) (io.ReadCloser, error) {
	var in io.ReadCloser = io.NopCloser(rb.stdin)
	file, _ := rb.stdin.(*os.File)
	if rb.reportPath != "-" {
		var err error
		if in, err = openReport(ctx, rb.st, rb.reportPath); err != nil {
			return nil, usageError{"cannot read the report: " + err.Error(), ""}
		}
		file, _ = in.(*os.File)
	}
	if file == nil || regular(file) {
		return in, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{untilDone(ctx, in), in}, nil
}

// changed reports whether a report row changed its user: a write was
// made and went through, or went through and was not seen (NotApplied).
func changed(row report.Row) bool {
	return row.Status == string(batch.StatusSucceeded) ||
		row.Status == string(batch.StatusFailed) && row.ErrorCode == batch.CodeNotApplied
}

// take counts a report row, and keeps it when it is to be put back.
func (rb *rollback) take(row report.Row) error {
	rb.count.rows++
	if !slices.Contains(batch.Statuses, batch.Status(row.Status)) {
		return usageError{fmt.Sprintf("the report %s: report line %d: column status: %s is not a status a run writes", rb.reportPath, row.Line, quote(clipText(row.Status, 40))), ""}
	}
	earlier := row.Status == string(batch.StatusSkipped) && row.ErrorCode == batch.CodeAlreadySucceeded
	switch {
	case earlier && row.Action == batch.ActionNone:
		// The earlier run found the user already as asked: nothing changed.
		rb.count.unchanged[row.Status]++
		return nil
	case earlier && row.Before == "":
		rb.count.changed++
		rb.leave(leftEarlier, rowName(row), "skipped as done by an earlier run (--resume) that read no state: roll that run's report back too")
		return nil
	case !earlier && !changed(row):
		rb.count.unchanged[row.Status]++
		return nil
	}
	rb.count.changed++
	s, ok := rb.restore(row)
	if !ok {
		return nil
	}
	admin := row.TokenSHA256 == ""
	if err := rb.oneMode(row, admin); err != nil {
		return err
	}
	if admin {
		return rb.putBackAdmin(row, s)
	}
	k, _ := strconv.ParseUint(row.TokenSHA256, 16, 64) // the reader checked it
	if _, twice := rb.tokens[k]; twice {
		rb.leave(leftTwice, rowName(row), "the same token as an earlier row of the report, whose before state is put back: roll back one run's report at a time, the latest first")
		return nil
	}
	rb.tokens[k] = tokenRow{row: int32(row.Row), settings: s}
	return nil
}

// restore is the settings that put row's user back in its before state:
// the factors its request sent, and the one before preferred. false when
// the row is left out.
func (rb *rollback) restore(row report.Row) (batch.Settings, bool) {
	if row.Before == "" {
		rb.leave(leftNoBefore, rowName(row), "the report has no before state for it: the run read no state (--skip-unchanged and --verify record it)")
		return batch.Settings{}, false
	}
	before, err := batch.ParseState(row.Before)
	if err != nil {
		rb.leave(leftBadBefore, rowName(row), "column before: "+err.Error())
		return batch.Settings{}, false
	}
	factors, passkey, ok := row.Sent()
	if !ok {
		factors = []int{0, 1, 2} // the request is unreadable: every factor a State holds
	}
	s := before.Restore(factors)
	switch {
	case s == (batch.Settings{}):
		rb.leave(leftPasskeyOnly, rowName(row), "the run set a passkey (WebAuthnMfaSettings) alone, and Cognito's state does not show passkeys: there is nothing to put back")
		return s, false
	case passkey:
		rb.count.passkeys++
		fmt.Fprintf(rb.stderr, "mfabatch: warning: %s: the run also set a passkey (WebAuthnMfaSettings), which Cognito's state does not show: its other factors are put back, the passkey is not\n", rowName(row))
	}
	return s, true
}

// oneMode refuses a report whose rows to put back name their users both
// ways: a manifest has one mode.
func (rb *rollback) oneMode(row report.Row, admin bool) error {
	mode, other := 0, 1
	if admin {
		mode, other = 1, 0
	}
	if rb.first[mode] == 0 {
		rb.first[mode] = row.Row
	}
	if rb.first[other] == 0 {
		return nil
	}
	return usageError{fmt.Sprintf("report rows %d and %d name their users both ways, by access token and by username: a manifest names them one way", rb.first[0], rb.first[1]),
		"roll back the report of one run at a time"}
}

// putBackAdmin writes an admin row's manifest row to the spool.
func (rb *rollback) putBackAdmin(row report.Row, s batch.Settings) error {
	if row.Username == "" || row.UserPoolID == "" {
		return usageError{fmt.Sprintf("the report %s: report line %d: row %d has no token_sha256, username or user_pool_id: whom it changed is unknown", rb.reportPath, row.Line, row.Row), ""}
	}
	k := report.UserKey(row.UserPoolID, row.Username)
	if _, twice := rb.users[k]; twice {
		rb.leave(leftTwice, rowName(row), "the same user as an earlier row of the report, whose before state is put back: roll back one run's report at a time, the latest first")
		return nil
	}
	rb.users[k] = struct{}{}
	w, err := rb.writer(true)
	if err != nil {
		return err
	}
	rb.count.put++
	if err := w.Write(batch.Row{ID: row.ID, Admin: true, Username: row.Username, UserPoolID: row.UserPoolID, Settings: s}); err != nil {
		return spoolFailed(err)
	}
	return nil
}

// rowName names a report row in a message: its number, id and token
// fingerprint or username.
func rowName(row report.Row) string {
	var parts []string
	if row.ID != "" {
		parts = append(parts, "id "+quote(row.ID))
	}
	if row.TokenSHA256 != "" {
		parts = append(parts, "token "+row.TokenSHA256)
	} else if row.Username != "" {
		parts = append(parts, "user "+quote(row.Username))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("row %d", row.Row)
	}
	return fmt.Sprintf("row %d (%s)", row.Row, strings.Join(parts, ", "))
}
