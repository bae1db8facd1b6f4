package batch

import (
	"context"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/smithy-go/middleware"
)

// readState is the call that reads t's user's state into st: GetUser with
// the row's access token, or AdminGetUser signed with the run's AWS
// credentials.
func readState(t target, st *State) call {
	region := func(o *cip.Options) { o.Region = t.region }
	if t.admin {
		in := &cip.AdminGetUserInput{UserPoolId: &t.pool, Username: &t.username}
		return func(ctx context.Context, c Client) (middleware.Metadata, error) {
			out, err := c.AdminGetUser(ctx, in, region)
			if err != nil {
				return middleware.Metadata{}, err
			}
			*st = AdminUserState(out)
			return out.ResultMetadata, nil
		}
	}
	in := &cip.GetUserInput{AccessToken: &t.secret}
	return func(ctx context.Context, c Client) (middleware.Metadata, error) {
		out, err := c.GetUser(ctx, in, region)
		if err != nil {
			return middleware.Metadata{}, err
		}
		*st = UserState(out)
		return out.ResultMetadata, nil
	}
}

// readBefore reads the user's state before the write, for --plan and
// --skip-unchanged, and reports whether the row goes on to its write. A
// row whose state cannot be read fails with the service's code: without
// the state the plan cannot say what the write would do.
func (w *worker) readBefore(running, sending context.Context, j *job, res *Result) bool {
	var before State
	if !w.try(running, sending, j, step{OpRead, w.reads, readState(j.target, &before), "this row's state was read"}, res) {
		if res.Status == StatusFailed {
			res.ErrorMessage = "reading the user's MFA state: " + res.ErrorMessage
		}
		return false
	}
	res.Before, res.After = before, before.With(j.settings)
	res.Action = ActionChange
	if before.Meets(j.settings) && !j.settings.WebAuthn.IsSet() {
		res.Action = ActionNone
	}
	switch {
	case w.cfg.Plan:
		res.Status = StatusPlanned
		return false
	case res.Action == ActionNone:
		res.fail(StatusSkipped, rowErr(CodeUnchanged, "the user's MFA state is already %s, as the row asks: nothing was written", before))
		return false
	}
	return true
}

// verify reads the state back after a successful write into res.After,
// and fails the row (NotApplied) when it is not as the row asks. The
// service can answer a write with success and change nothing; reading
// again would not mend that, so it is reported, not retried. A read that
// fails leaves the row succeeded, the state unknown.
func (w *worker) verify(running, sending context.Context, j *job, res *Result) {
	written := *res
	var after State
	if !w.try(running, sending, j, step{OpRead, w.reads, readState(j.target, &after), "the state was read back"}, res) {
		why, attempts, throttled := res.ErrorCode+": "+res.ErrorMessage, res.Attempts, res.throttled
		*res = written
		res.Attempts, res.throttled = attempts, throttled
		res.ErrorMessage = "written, but the state could not be read back (" + why + ")"
		res.After = State{}
		return
	}
	res.HTTPStatus, res.RequestID = written.HTTPStatus, written.RequestID
	res.After = after
	if !after.Meets(j.settings) {
		asked := ""
		if res.Before.Known() {
			asked = " (" + res.Before.With(j.settings).String() + ")"
		}
		res.fail(StatusFailed, rowErr(CodeNotApplied, "the write was answered with success, but the state read back is %s, not what the row asks%s; Cognito can report no factors for users who enrolled through the hosted UI or in pools where MFA is required", after, asked))
	}
}
