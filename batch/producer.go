package batch

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"time"
)

// userKey identifies a user across rows: 64 bits of hash of the target's
// user (a token's issuer and sub). A million users collide with odds of
// about 1 in 36 million, and the index stays at some 20 bytes a user, the
// only memory that grows with the manifest.
type userKey uint64

// seenUser is what the index keeps of a user's first row.
type seenUser struct {
	settings uint16 // Settings.pack
	row      uint32
}

// producer checks rows in manifest order. It alone owns the duplicate
// index, so it needs no lock.
type producer struct {
	cfg    Config
	start  time.Time
	sum    *Summary
	seen   map[userKey]seenUser
	seed   maphash.Seed
	queued map[string]int // rows per region so far, for the dry run's estimate
	signed bool           // Config.Credentials has been asked
}

// produce takes rows in order and checks each: a row with nothing to send
// goes to the record stage as its Result, a row to send to its region's
// lane, and once sending ends, rows ready to send are reported not sent.
// It returns why the manifest could not be read to its end, or nil; it
// ends early when the run fails.
func (p *producer) produce(running, sending context.Context, rows <-chan readRow, d *dispatch) error {
	for {
		r, err := nextRow(running, sending, rows)
		switch {
		case err == io.EOF || running.Err() != nil:
			return nil
		case err != nil:
			return err
		}
		j, res, err := p.prepare(r)
		if err == nil && j != nil && j.target.admin {
			err = p.credentials(running)
		}
		switch {
		case err != nil:
			return err
		case j == nil:
		case d.queue(running, sending, j):
			continue
		default:
			res = notSent(sending, j.res, p.cfg.Now())
		}
		if !deliver(running, d.results, res) {
			return nil
		}
	}
}

// credentials asks Config.Credentials, once, before the first admin call:
// without credentials the run ends before any call.
func (p *producer) credentials(ctx context.Context) error {
	if p.signed || p.cfg.Credentials == nil {
		return nil
	}
	p.signed = true
	return p.cfg.Credentials(ctx)
}

// prepare checks a row. It returns a job to send, or the row's final
// Result when there is nothing to send, or an error when the run cannot go
// on (a *NoRegionError).
func (p *producer) prepare(r readRow) (*job, Result, error) {
	t := r.target
	now := p.cfg.Now()
	res := Result{Row: r.row.N, ID: r.row.ID, StartedAt: now.UTC(), TokenSHA256: t.fingerprint,
		Username: t.username, Sub: t.sub, Region: t.region, UserPoolID: t.pool}
	settings, rerr := p.check(r, &res)
	if rerr != nil {
		res.fail(StatusInvalid, rerr)
		return nil, res, nil
	}
	if res.Region == "" {
		return nil, res, noRegion(r.row.N, t)
	}
	t.region = res.Region
	call, request := t.operation(t, settings)
	res.Request = request
	if status, rerr := p.admit(t, settings, &res, now); rerr != nil {
		res.fail(status, rerr)
		return nil, res, nil
	}
	if p.cfg.DryRun {
		res.Status = StatusDryRun
		p.forecast(t)
		return nil, res, nil
	}
	return &job{res: res, target: t, settings: settings, call: call}, Result{}, nil
}

// check checks what the row says by itself: its fields, its target, its
// settings and its region, which it sets in res.
func (p *producer) check(r readRow, res *Result) (Settings, *RowError) {
	readErr := r.row.Err
	if err := withholdID(&res.ID, r.target.secret); err != nil && readErr == nil {
		readErr = err
	}
	if readErr != nil {
		return Settings{}, readErr
	}
	if r.targetErr != nil {
		return Settings{}, r.targetErr
	}
	settings := r.row.Settings.WithDefaults(p.cfg.Defaults)
	if err := settings.Check(); err != nil {
		return Settings{}, err
	}
	if pool := p.cfg.UserPoolID; pool != "" && r.target.pool != "" && r.target.pool != pool {
		return Settings{}, rowErr(CodeUserNotInPool, "the user is in pool %s, not --user-pool-id %s", r.target.pool, pool)
	}
	region, err := p.region(r.target)
	if err != nil {
		return Settings{}, err
	}
	res.Region = region
	return settings, nil
}

// admit checks the row against the rows before it and the clock: a row
// done in an earlier run or asking again what a row before it asked is
// skipped; one asking otherwise for the same user, or whose secret is too
// close to expiry, is invalid. It returns a nil error for a row to send.
// A row done in an earlier run takes that run's state and action into res.
func (p *producer) admit(t target, settings Settings, res *Result, now time.Time) (Status, *RowError) {
	if p.seen == nil {
		p.seen = map[userKey]seenUser{}
		p.seed = maphash.MakeSeed()
	}
	key := userKey(maphash.String(p.seed, t.user))
	first := seenUser{settings: settings.pack(), row: uint32(res.Row)}
	// A row done in an earlier run is skipped before its token's age is
	// checked: it need not be sent again, however old the token.
	if p.cfg.AlreadyDone != nil {
		if prior, done := p.cfg.AlreadyDone(t.doneKey()); done {
			if _, ok := p.seen[key]; !ok {
				p.seen[key] = first
			}
			res.Before, res.After, res.Action = prior.Before, prior.After, prior.Action
			return StatusSkipped, rowErr(CodeAlreadySucceeded, "succeeded in the earlier run given to --resume")
		}
	}
	if t.expiresWithin(now, p.cfg.MinTokenTTL) {
		return StatusInvalid, expired(t.expires, now)
	}
	if before, ok := p.seen[key]; ok {
		if before.settings == first.settings {
			return StatusSkipped, rowErr(CodeDuplicateUser, "row %d already asks the same for this user", before.row)
		}
		return StatusInvalid, rowErr(CodeConflictingRow, "row %d asks different settings for this user; keep one row per user", before.row)
	}
	p.seen[key] = first
	return "", nil
}

// forecast notes when a dry run's row would have its turn: once its
// region's limiter has let the rows before it through.
func (p *producer) forecast(t target) {
	if p.queued == nil {
		p.queued = map[string]int{}
	}
	p.queued[t.region]++
	if p.cfg.RPS > 0 {
		wait := time.Duration(float64(max(p.queued[t.region]-p.cfg.Burst, 0)) / p.cfg.RPS * float64(time.Second))
		p.sum.noteDryRun(wait, t.expiresWithin(p.start.Add(wait), p.cfg.MinTokenTTL))
	}
}

// region is where a row goes: its token's issuer's region, the only one
// where the token is valid. Config.Region (--region), else
// Config.DefaultRegion, serves tokens whose issuer names none, as an
// emulator's; a Config.Region other than the issuer's makes the row
// invalid. "" means the row needs a region and none is configured.
func (p *producer) region(t target) (string, *RowError) {
	switch {
	case t.region == "":
		return cmp.Or(p.cfg.Region, p.cfg.DefaultRegion), nil
	case p.cfg.Region != "" && p.cfg.Region != t.region && t.admin:
		return "", rowErr(CodeRegionMismatch, "the user pool %s is in %s, not --region %s: leave --region out to send each row to its pool's region", t.pool, t.region, p.cfg.Region)
	case p.cfg.Region != "" && p.cfg.Region != t.region:
		return "", rowErr(CodeRegionMismatch, "the token is from %s, not --region %s: a token is valid only in its issuer's region; leave --region out to send each row there", t.region, p.cfg.Region)
	}
	return t.region, nil
}

// NoRegionError ends a run at the first row whose token or pool names no
// region (an emulator's issuer or pool ID) when no region is configured:
// every such row would need one.
type NoRegionError struct {
	Row    int
	Issuer string // the token's issuer, clipped
	Pool   string // or the admin row's user pool ID
}

func (e *NoRegionError) Error() string {
	if e.Pool != "" {
		return fmt.Sprintf("row %d: the user pool ID %q names no AWS region, and no region is configured", e.Row, e.Pool)
	}
	return fmt.Sprintf("row %d: the token's issuer %q names no Cognito region, and no region is configured", e.Row, e.Issuer)
}

func noRegion(row int, t target) *NoRegionError {
	if t.admin {
		return &NoRegionError{Row: row, Pool: t.pool}
	}
	return &NoRegionError{Row: row, Issuer: scrub(clipIssuer(t.issuer), t.secret, t.fingerprint)}
}

func expired(exp, now time.Time) *RowError {
	if !exp.After(now) {
		return rowErr(CodeTokenExpired, "the token expired at %s; get a fresh one", exp.Format(time.RFC3339))
	}
	return rowErr(CodeTokenExpired, "the token expires at %s, within --min-token-ttl of its dispatch; get a fresh one", exp.Format(time.RFC3339))
}

func clipIssuer(iss string) string {
	if len(iss) > 100 {
		return iss[:100] + "..."
	}
	return iss
}
