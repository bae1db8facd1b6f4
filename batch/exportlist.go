package batch

// An export's listing, and the one way its calls are made: paced,
// retried as classify allows, counted.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
)

// errStopped is a call not made, or not made again, because the export
// stopped: a signal, or a failure elsewhere.
var errStopped = errors.New("the export stopped")

// list lists the pages from Config.Start and hands each user to the
// writer and, unless NoState, to the readers; then the page's end. A
// listing that fails is handed to the writer after the users before it.
func (e *export) list(running, sending context.Context, items, jobs chan<- *item) {
	token := e.cfg.Start
	for first := true; ; first = false {
		users, next, err := e.listPage(running, sending, token)
		if first && token != "" && refusedToken(err) {
			e.cfg.Log.Info("the pagination token to resume from was refused: listing again from the first page")
			e.sum.Restarted, token = true, ""
			users, next, err = e.listPage(running, sending, token)
		}
		if err == nil {
			err = e.checkToken(token, next)
		}
		for i := 0; err == nil && i < len(users); i++ {
			err = e.queue(sending, items, jobs, users[i])
		}
		if err == nil && !e.send(sending, items, &item{page: &Page{Next: next, Last: next == ""}}) {
			err = errStopped
		}
		if err != nil {
			if !errors.Is(err, errStopped) {
				e.send(sending, items, &item{err: err})
			}
			return
		}
		if next == "" {
			return
		}
		token = next
	}
}

// refusedToken reports whether the service refused a listing's
// pagination token: Cognito answers InvalidParameterException for one
// it no longer takes.
func refusedToken(err error) bool {
	var xe *ExportError
	return errors.As(err, &xe) && xe.Class.Code == "InvalidParameterException"
}

// checkToken refuses a next page's token that would list the same page
// again, or that quotes the credentials (it is kept in the checkpoint).
func (e *export) checkToken(token, next string) error {
	switch {
	case next != "" && next == token:
		return errors.New("the service answered the same pagination token again: listing would never end")
	case e.cfg.Secrets != nil && QuotesSecret(next, e.cfg.Secrets()):
		return errors.New("the service's pagination token quotes the AWS credentials: the export stops")
	}
	return nil
}

// queue hands a listed user to the writer and the readers, unless the
// output has it already.
func (e *export) queue(sending context.Context, items, jobs chan<- *item, u types.UserType) error {
	name := aws.ToString(u.Username)
	if name == "" || !validUsername(name) || e.cfg.Secrets != nil && QuotesSecret(name, e.cfg.Secrets()) {
		return fmt.Errorf("the service listed a user whose name is no Cognito username (%d bytes): the export stops", len(name))
	}
	if e.cfg.Written != nil && e.cfg.Written(name) {
		e.sum.Skipped++
		return nil
	}
	it := &item{username: name, sub: e.shown(attribute(u.Attributes, "sub")), done: make(chan struct{})}
	if e.cfg.NoState {
		it.row = e.row(it, State{})
		it.finish(read)
	}
	if !e.send(sending, items, it) {
		return errStopped
	}
	if e.cfg.NoState {
		return nil
	}
	select {
	case jobs <- it:
		return nil
	case <-sending.Done():
		it.finish(unread)
		return errStopped
	}
}

// send hands it to the writer; false when the export stops first.
func (e *export) send(sending context.Context, items chan<- *item, it *item) bool {
	select {
	case items <- it:
		return true
	case <-sending.Done():
		return false
	}
}

// listPage lists the page token names: its users and the next page's
// token, "" after the last.
func (e *export) listPage(running, sending context.Context, token string) ([]types.UserType, string, error) {
	var users []types.UserType
	var next *string
	limit, op := int32(PageSize), "ListUsers"
	if e.cfg.Group != "" {
		op = "ListUsersInGroup"
	}
	err := e.call(running, sending, e.listPacer, OpList, "", func(ctx context.Context) error {
		if e.cfg.Group != "" {
			in := &cip.ListUsersInGroupInput{UserPoolId: &e.cfg.UserPoolID, GroupName: &e.cfg.Group, Limit: &limit, NextToken: optional(token)}
			out, err := e.client.ListUsersInGroup(ctx, in, e.region)
			if out != nil {
				users, next = out.Users, out.NextToken
			}
			return err
		}
		in := &cip.ListUsersInput{UserPoolId: &e.cfg.UserPoolID, Filter: optional(e.cfg.Filter), Limit: &limit, PaginationToken: optional(token)}
		out, err := e.client.ListUsers(ctx, in, e.region)
		if out != nil {
			users, next = out.Users, out.PaginationToken
		}
		return err
	})
	var xe *ExportError
	if errors.As(err, &xe) {
		xe.Op = op
	}
	return users, aws.ToString(next), err
}

// optional is s as an optional field: nil when "".
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// attribute is the value of a user's attribute name; "" when it has none.
func attribute(attrs []types.AttributeType, name string) string {
	for _, a := range attrs {
		if aws.ToString(a.Name) == name {
			return aws.ToString(a.Value)
		}
	}
	return ""
}

// shown is a value from the service fit for the output: one line, at
// most maxCode bytes (a sub is a UUID), and "" when it quotes the
// credentials.
func (e *export) shown(s string) string {
	s = oneLine(cut(s, maxCode))
	if e.cfg.Secrets != nil && QuotesSecret(s, e.cfg.Secrets()) {
		return ""
	}
	return s
}

// call makes a call as p paces it, retrying what classify allows, and
// counts it. It returns nil, an *ExportError, or errStopped when the
// export stopped before the call could be made or made again. who names
// the call's user in the log.
func (e *export) call(running, sending context.Context, p *pacer, op, who string, send func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		if err := p.limiter.Wait(sending); err != nil || sending.Err() != nil {
			return errStopped
		}
		sent := e.cfg.Now()
		ctx, cancel := context.WithTimeout(running, e.cfg.Timeout)
		err := send(ctx)
		cancel()
		if running.Err() != nil {
			return errStopped // the export failed elsewhere: this answer is no news
		}
		class := e.judge(err)
		p.observe(class)
		e.count(op, who, p, sent, attempt, class)
		switch {
		case class == nil:
			return nil
		case !class.Retry || attempt >= e.cfg.MaxAttempts:
			return &ExportError{Attempts: attempt, Class: *class}
		case !sleep(sending, Backoff(attempt, e.cfg.BackoffBase, e.cfg.BackoffMax, jitter)):
			return errStopped
		}
	}
}

// judge is what a call's error says, fit to show; nil for no error.
func (e *export) judge(err error) *Class {
	if err == nil {
		return nil
	}
	c := classify(err)
	c.scrub("", "")
	if e.cfg.Secrets != nil {
		c.scrubCredentials(e.cfg.Secrets())
	}
	return &c
}

// count counts a call in the summary, tells OnCall, and logs it at debug.
func (e *export) count(op, who string, p *pacer, sent time.Time, attempt int, class *Class) {
	took := e.cfg.Now().Sub(sent)
	e.mu.Lock()
	if op == OpRead {
		e.sum.Reads++
	} else {
		e.sum.Lists++
	}
	e.mu.Unlock()
	var limit float64
	if op == OpRead {
		limit, _ = p.rate() // the rate that paces an export: listing keeps its own, lower
	}
	if e.cfg.OnCall != nil {
		e.cfg.OnCall(CallStat{Op: op, Region: e.cfg.Region, Duration: took,
			Throttled: class != nil && class.Throttle, Retry: attempt > 1, Limit: limit})
	}
	var code string
	var status int
	if class != nil {
		code, status = class.Code, class.HTTPStatus
	}
	e.cfg.Log.Debug("call", "op", op, "username", who, "attempt", attempt, "http_status", status,
		"error_code", code, "latency_ms", took.Milliseconds())
}
