package batch

import (
	"cmp"
	"context"
	"fmt"
	"hash/maphash"
	"io"
	"time"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
)

// job is a checked row on its way to a worker.
type job struct {
	res    Result // filled in as far as the row allows
	token  string
	exp    time.Time
	input  *cip.SetUserMFAPreferenceInput
	region string
	pacer  *pacer
}

// userKey identifies a user across tokens: 64 bits of hash of issuer and
// sub. A million users collide with odds of about 1 in 36 million, and the
// index stays at some 20 bytes a user, the only memory that grows with the
// manifest.
type userKey uint64

// seenUser is what the index keeps of a user's first row.
type seenUser struct {
	settings uint16 // Settings.pack
	row      uint32
}

// producer checks rows in manifest order. It alone owns the duplicate
// index and the limiters, so neither needs a lock.
type producer struct {
	cfg    Config
	start  time.Time
	sum    *Summary
	seen   map[userKey]seenUser
	seed   maphash.Seed
	pacers map[string]*pacer
	queued map[string]int // rows per region so far, for the dry run's estimate
}

// produce reads m's rows in order and checks each: a row with nothing to
// send goes to send as its Result, a row to send to its region's lane, and
// once stop ends, rows ready to send go to unsent. It returns why m could
// not be read to its end, or nil; it ends early when the run fails.
func (p *producer) produce(m Manifest, d *dispatch, send func(Result) bool, unsent func(*job) bool, stop, gctx context.Context) error {
	rows := readRows(m, p.cfg.Shard, gctx)
	for {
		r, err := nextRow(rows, stop, gctx)
		switch {
		case err == io.EOF || gctx.Err() != nil:
			return nil
		case err != nil:
			return err
		}
		j, res, err := p.prepare(r)
		ok := true
		switch {
		case err != nil:
			return err
		case j == nil:
			ok = send(res)
		case stop.Err() != nil:
			ok = unsent(j)
		default:
			select {
			case d.ahead <- struct{}{}:
				d.queue(j)
			case <-stop.Done():
				ok = unsent(j)
			case <-gctx.Done():
				ok = false
			}
		}
		if !ok {
			return nil
		}
	}
}

// prepare checks a row. It returns a job to send, or the row's final
// Result when there is nothing to send, or an error when the run cannot go
// on (a *NoRegionError).
func (p *producer) prepare(r readRow) (*job, Result, error) {
	row, claims, rerr := r.row, r.claims, r.tokenErr
	now := p.cfg.Now()
	res := Result{Row: row.N, ID: row.ID, StartedAt: now.UTC(), TokenSHA256: r.fingerprint}
	res.Username, res.Sub, res.Region, res.pool = claims.Username, claims.Sub, claims.Region, claims.Pool
	if err := withholdID(&res.ID, string(row.Token)); err != nil && row.Err == nil {
		row.Err = err
	}
	if row.Err != nil {
		res.fail(StatusInvalid, row.Err)
		return nil, res, nil
	}
	if rerr != nil {
		res.fail(StatusInvalid, rerr)
		return nil, res, nil
	}
	settings := row.Settings.WithDefaults(p.cfg.Defaults)
	if rerr := settings.Check(); rerr != nil {
		res.fail(StatusInvalid, rerr)
		return nil, res, nil
	}
	region, rerr := p.region(claims)
	if rerr != nil {
		res.fail(StatusInvalid, rerr)
		return nil, res, nil
	}
	if region == "" {
		return nil, res, &NoRegionError{Row: row.N, Issuer: scrub(clipIssuer(claims.Issuer), string(row.Token), res.TokenSHA256)}
	}
	res.Region = region
	input := settings.Input(string(row.Token))
	res.Request = string(Body(redacted(res.TokenSHA256), input))
	if p.seen == nil {
		p.seen = map[userKey]seenUser{}
		p.seed = maphash.MakeSeed()
	}
	key := p.userKey(claims)
	first := seenUser{settings: settings.pack(), row: uint32(row.N)}
	// A row done in an earlier run is skipped before its token's age is
	// checked: it need not be sent again, however old the token.
	if p.cfg.AlreadyDone != nil && p.cfg.AlreadyDone(res.TokenSHA256) {
		if _, ok := p.seen[key]; !ok {
			p.seen[key] = first
		}
		res.fail(StatusSkipped, rowErr(CodeAlreadySucceeded, "succeeded in the earlier run given to --resume"))
		return nil, res, nil
	}
	if left := claims.Exp.Sub(now); left < p.cfg.MinTokenTTL {
		res.fail(StatusInvalid, expired(claims.Exp, now))
		return nil, res, nil
	}
	if first, ok := p.seen[key]; ok {
		if first.settings == settings.pack() {
			res.fail(StatusSkipped, rowErr(CodeDuplicateUser, "row %d already asks the same for this user", first.row))
		} else {
			res.fail(StatusInvalid, rowErr(CodeConflictingRow, "row %d asks different settings for this user; keep one row per user", first.row))
		}
		return nil, res, nil
	}
	p.seen[key] = first

	if p.cfg.DryRun {
		res.Status = StatusDryRun
		if p.queued == nil {
			p.queued = map[string]int{}
		}
		p.queued[region]++
		// The row's turn comes once its region's limiter has let the rows
		// before it through.
		if p.cfg.RPS > 0 {
			wait := time.Duration(float64(max(p.queued[region]-p.cfg.Burst, 0)) / p.cfg.RPS * float64(time.Second))
			p.sum.noteDryRun(wait, claims.Exp.Sub(p.start.Add(wait)) < p.cfg.MinTokenTTL)
		}
		return nil, res, nil
	}
	return &job{res: res, token: string(row.Token), exp: claims.Exp, input: input, region: region, pacer: p.pacer(region)}, Result{}, nil
}

// region is where a row goes: its token's issuer's region, the only one
// where the token is valid. Config.Region (--region), else
// Config.DefaultRegion, serves tokens whose issuer names none, as an
// emulator's; a Config.Region other than the issuer's makes the row
// invalid. "" means the row needs a region and none is configured.
func (p *producer) region(c Claims) (string, *RowError) {
	switch {
	case c.Region == "":
		return cmp.Or(p.cfg.Region, p.cfg.DefaultRegion), nil
	case p.cfg.Region != "" && p.cfg.Region != c.Region:
		return "", rowErr(CodeRegionMismatch, "the token is from %s, not --region %s: a token is valid only in its issuer's region; leave --region out to send each row there", c.Region, p.cfg.Region)
	}
	return c.Region, nil
}

func (p *producer) userKey(c Claims) userKey {
	var h maphash.Hash
	h.SetSeed(p.seed)
	h.WriteString(c.Issuer)
	h.WriteByte(0)
	h.WriteString(c.Sub)
	return userKey(h.Sum64())
}

// pacer returns the region's pacer: each region is its own quota.
func (p *producer) pacer(region string) *pacer {
	pc, ok := p.pacers[region]
	if !ok {
		pc = newPacer(p.cfg, region)
		pc.log = p.cfg.Log
		p.pacers[region] = pc
		p.sum.pacers = append(p.sum.pacers, pc)
	}
	return pc
}

// NoRegionError ends a run at the first row whose token names no region
// (its issuer is not a Cognito user pool's, as an emulator's) when no
// region is configured: every such row would need one.
type NoRegionError struct {
	Row    int
	Issuer string // the token's issuer, clipped
}

func (e *NoRegionError) Error() string {
	return fmt.Sprintf("row %d: the token's issuer %q names no Cognito region, and no region is configured", e.Row, e.Issuer)
}

func redacted(fingerprint string) string { return "<redacted:" + fingerprint + ">" }

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
