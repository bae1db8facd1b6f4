// Package batch is mfabatch's engine: it reads manifest rows, checks them,
// and sends SetUserMFAPreference for each through per-region rate limiters
// and a worker pool with retries, yielding one Result per row.
package batch

import (
	"context"
	"errors"
	"hash/maphash"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"golang.org/x/sync/errgroup"
)

// Config tunes a run. The zero value of each field has the meaning its
// comment gives.
type Config struct {
	Workers     int           // concurrent calls; 0 means auto: as many as --rps needs at the latency seen
	RPS         float64       // attempts per second per region, retries included; 0 means unlimited
	Burst       int           // limiter burst; 0 means 1
	MaxAttempts int           // attempts per row, the first included; 0 means 5
	Timeout     time.Duration // limit for one attempt; 0 means 10s
	MinTokenTTL time.Duration // a token expiring within this of its dispatch is not sent
	Region      string        // where to send every row; "" means each token's issuer region
	Defaults    Settings      // fields for rows that leave them blank
	DryRun      bool          // check and describe every row; send nothing
	MaxFailures Threshold     // halt once failed rows exceed it; the zero value never halts
	Adaptive    bool          // slow down on throttling, recover slowly; needs RPS > 0
	// AlreadyDone reports rows (by token fingerprint) that succeeded in an
	// earlier run: they are skipped and make no call. nil means none.
	AlreadyDone func(tokenSHA256 string) bool

	Log   *slog.Logger // attempts at debug, halts and slow-downs at info; nil logs nothing
	Shard Shard        // run only this shard's rows; the zero value runs every row
	// OnResult, when set, sees each row's Result as it finishes, after the
	// sink has it, from one goroutine: for progress displays.
	OnResult func(Result)

	BackoffBase time.Duration    // first retry's backoff ceiling; 0 means 200ms
	BackoffMax  time.Duration    // backoff ceiling; 0 means 20s
	Now         func() time.Time // the clock; nil means time.Now
}

func (c Config) withDefaults() Config {
	if c.Workers < 0 {
		c.Workers = 0
	}
	if c.Burst <= 0 {
		c.Burst = 1
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 200 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 20 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// flushEvery is how often finished rows are flushed to the sink.
const flushEvery = 250 * time.Millisecond

// Sink receives results as rows finish, from a single goroutine. Flush is
// called at least every flushEvery while rows come, and at the end.
type Sink interface {
	Write(Result) error
	Flush() error
}

// Runner runs a manifest through Client.
type Runner struct {
	Client Client // unused in a dry run
	Config Config
}

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

// Run reads every row of m and hands one Result per row to sink. Row
// failures are Results; Run returns an error only when the run itself
// fails: the manifest cannot be read or the sink cannot be written. When
// ctx is cancelled, or the run halts (see Config.MaxFailures), rows not yet
// sent are reported not_attempted, calls in flight finish (each within
// Config.Timeout), and Run returns a complete Summary with ctx's error or
// a *HaltError.
func (r *Runner) Run(ctx context.Context, m Manifest, sink Sink) (*Summary, error) {
	cfg := r.Config.withDefaults()
	sum := newSummary(cfg)
	start := cfg.Now()

	// gctx ends only when the run fails. stop ends on an interrupt (ctx) or
	// a halt: it stops dispatch but lets calls in flight finish and every
	// row be reported.
	g, gctx := errgroup.WithContext(context.WithoutCancel(ctx))
	stop, halt := context.WithCancelCause(ctx)
	defer halt(nil)
	waitCtx, cancelWait := context.WithCancel(gctx)
	defer cancelWait()
	stopWaits := context.AfterFunc(stop, cancelWait)
	defer stopWaits()

	pool := newPool(cfg)
	jobs := make(chan *job, pool.start)
	results := make(chan Result, pool.start)
	send := func(res Result) bool {
		select {
		case results <- res:
			return true
		case <-gctx.Done():
			return false
		}
	}

	// A manifest that cannot be read further ends the run, but the rows
	// read so far still finish and are reported.
	var readErr error
	var producers sync.WaitGroup
	producers.Add(1)
	g.Go(func() error {
		defer producers.Done()
		defer close(jobs)
		p := producer{cfg: cfg, start: start, sum: sum, pacers: map[string]*pacer{}}
		rows := readRows(m, cfg.Shard, gctx)
		for {
			r, err := nextRow(rows, stop, gctx)
			if err == io.EOF || errors.Is(err, errStopped) || gctx.Err() != nil {
				return nil
			}
			if err != nil {
				readErr = err
				return nil
			}
			j, res := p.prepare(r)
			switch {
			case j == nil:
				if !send(res) {
					return nil
				}
			case stop.Err() != nil:
				if !send(notSent(stop, j.res, cfg.Now())) {
					return nil
				}
			default:
				select {
				case jobs <- j:
				case <-stop.Done():
					if !send(notSent(stop, j.res, cfg.Now())) {
						return nil
					}
				case <-gctx.Done():
					return nil
				}
			}
		}
	})
	// A worker may start more workers: it holds a count of producers, so
	// the count cannot reach zero while it adds to it.
	var spawn func(n int)
	spawn = func(n int) {
		for range n {
			producers.Add(1)
			g.Go(func() error {
				defer producers.Done()
				w := worker{client: r.Client, cfg: cfg, stop: stop, waitCtx: waitCtx, gctx: gctx, pool: pool, spawn: spawn}
				for j := range jobs {
					if !send(w.process(j)) {
						return nil
					}
				}
				return nil
			})
		}
	}
	spawn(pool.start)
	go func() {
		producers.Wait()
		close(results)
	}()
	g.Go(func() error {
		// Rows are flushed a few times a second, not one write each, so a
		// crash loses at most the last fraction of a second.
		tick := time.NewTicker(flushEvery)
		defer tick.Stop()
		dirty := false
		watch := failureWatch{limit: cfg.MaxFailures}
		for {
			var res Result
			select {
			case r, ok := <-results:
				if !ok {
					return sink.Flush()
				}
				res = r
			case <-tick.C:
				if dirty {
					if err := sink.Flush(); err != nil {
						return err
					}
					dirty = false
				}
				continue
			}
			sum.add(res)
			if reason := watch.add(res); reason != "" && stop.Err() == nil {
				cfg.Log.Warn("halting: rows not yet sent will not be", "reason", reason)
				halt(&HaltError{Reason: reason})
			}
			if err := sink.Write(res); err != nil {
				return err
			}
			if cfg.OnResult != nil {
				cfg.OnResult(res)
			}
			dirty = true
		}
	})
	err := g.Wait()
	sum.Workers = pool.workers()
	sum.finish(cfg.Now().Sub(start))
	if err == nil {
		err = readErr
	}
	if err != nil {
		return sum, err
	}
	var he *HaltError
	switch cause := context.Cause(stop); {
	case errors.As(cause, &he):
		sum.Halted = he.Reason
		return sum, he
	case ctx.Err() != nil:
		sum.Interrupted = true
		return sum, ctx.Err()
	}
	return sum, nil
}

// readRows reads the shard's rows of m in its own goroutine, so that a
// stopped run need not wait on a manifest that blocks (a pipe nobody
// closes), and reads each row's token there too, which spreads a row's work
// over two cores. The goroutine ends when m does, or when it is read no
// more and m next returns.
func readRows(m Manifest, shard Shard, gctx context.Context) <-chan readRow {
	rows := make(chan readRow, 64)
	go func() {
		defer close(rows)
		is := &issuers{}
		for {
			row, err := m.Next()
			if err == nil && !shard.Has(row.N) {
				continue
			}
			r := readRow{row: row, err: err}
			if err == nil {
				r.claims, r.tokenErr = parseToken(row.Token, is)
				if row.Token != "" {
					r.fingerprint = Fingerprint(row.Token)
				}
			}
			select {
			case rows <- r:
			case <-gctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return rows
}

// readRow is a row as read, with what its token says.
type readRow struct {
	row         Row
	err         error
	claims      Claims
	tokenErr    *RowError
	fingerprint string
}

// stopGrace is how long a stopped run waits for the manifest's next row
// before it ends without the rest: rows already written to a pipe are
// still reported, a pipe that has gone quiet is not waited on.
const stopGrace = time.Second

// nextRow returns the next row, or io.EOF when the manifest has ended or
// stop has ended and the manifest has gone quiet.
func nextRow(rows <-chan readRow, stop, gctx context.Context) (readRow, error) {
	stopped := stop.Done()
	var quiet <-chan time.Time
	for {
		if stopped != nil && stop.Err() != nil {
			t := time.NewTimer(stopGrace)
			defer t.Stop()
			stopped, quiet = nil, t.C
		}
		select {
		case r, ok := <-rows:
			if !ok {
				return readRow{}, io.EOF
			}
			return r, r.err
		case <-stopped:
		case <-quiet:
			return readRow{}, io.EOF
		case <-gctx.Done():
			return readRow{}, gctx.Err()
		}
	}
}

// HaltError is a run stopped by its failure threshold.
type HaltError struct{ Reason string }

func (e *HaltError) Error() string { return "halted: " + e.Reason }

// stopped is why stop ended, as a row's error: Halted or Interrupted.
func stopped(stop context.Context, what string) *RowError {
	var he *HaltError
	if errors.As(context.Cause(stop), &he) {
		return rowErr(CodeHalted, "the run halted before %s: %s", what, he.Reason)
	}
	return rowErr(CodeInterrupted, "the run was interrupted before %s", what)
}

// notSent is the result of a row that was ready but not sent.
func notSent(stop context.Context, res Result, now time.Time) Result {
	res.StartedAt = now.UTC()
	res.fail(StatusNotAttempted, stopped(stop, "this row was sent"))
	return res
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

// prepare checks a row. It returns a job to send, or the row's final
// Result when there is nothing to send.
func (p *producer) prepare(r readRow) (*job, Result) {
	row, claims, rerr := r.row, r.claims, r.tokenErr
	now := p.cfg.Now()
	res := Result{Row: row.N, ID: row.ID, StartedAt: now.UTC(), TokenSHA256: r.fingerprint}
	res.Username, res.Sub, res.Region, res.pool = claims.Username, claims.Sub, claims.Region, claims.Pool
	if row.Err != nil {
		res.fail(StatusInvalid, row.Err)
		return nil, res
	}
	if rerr != nil {
		res.fail(StatusInvalid, rerr)
		return nil, res
	}
	settings := row.Settings.WithDefaults(p.cfg.Defaults)
	if rerr := settings.Check(); rerr != nil {
		res.fail(StatusInvalid, rerr)
		return nil, res
	}
	region := p.cfg.Region
	if region == "" {
		region = claims.Region
	} else if claims.Region != "" && claims.Region != region {
		p.sum.RegionMismatch++
	}
	if region == "" {
		res.fail(StatusInvalid, rowErr(CodeInvalidRow, "the token's issuer %q names no Cognito region: pass --region", clipIssuer(claims.Issuer)))
		return nil, res
	}
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
		return nil, res
	}
	if left := claims.Exp.Sub(now); left < p.cfg.MinTokenTTL {
		res.fail(StatusInvalid, expired(claims.Exp, now))
		return nil, res
	}
	if first, ok := p.seen[key]; ok {
		if first.settings == settings.pack() {
			res.fail(StatusSkipped, rowErr(CodeDuplicateUser, "row %d already asks the same for this user", first.row))
		} else {
			res.fail(StatusInvalid, rowErr(CodeConflictingRow, "row %d asks different settings for this user; keep one row per user", first.row))
		}
		return nil, res
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
		return nil, res
	}
	return &job{res: res, token: string(row.Token), exp: claims.Exp, input: input, region: region, pacer: p.pacer(region)}, Result{}
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

// worker sends jobs one attempt at a time.
type worker struct {
	client  Client
	cfg     Config
	stop    context.Context // ends on interrupt: no new attempt starts
	pool    *pool
	spawn   func(n int)
	waitCtx context.Context // ends on interrupt or run failure: stops waits
	gctx    context.Context // ends on run failure only: bounds calls
}

// process sends one row, retrying what shouldRetry allows, and returns its
// Result with the true number of calls made.
func (w *worker) process(j *job) (res Result) {
	res = j.res
	start := w.cfg.Now()
	res.StartedAt = start.UTC()
	defer func() {
		res.Duration = w.cfg.Now().Sub(start)
		res.ErrorMessage = scrub(res.ErrorMessage, j.token, res.TokenSHA256)
	}()
	region := func(o *cip.Options) { o.Region = j.region }
	for attempt := 1; ; attempt++ {
		if err := w.ready(j, attempt); err != nil {
			if attempt == 1 {
				res.fail(StatusNotAttempted, err)
				if err.Code == CodeTokenExpired {
					res.Status = StatusInvalid
				}
			} else {
				res.ErrorMessage += "; " + err.Message
			}
			return res
		}
		res.Attempts = attempt
		sent := w.cfg.Now()
		actx, cancel := context.WithTimeout(w.gctx, w.cfg.Timeout)
		out, err := w.client.SetUserMFAPreference(actx, j.input, region)
		cancel()
		j.pacer.observe(err)
		w.logAttempt(j, attempt, sent, out, err)
		if more := w.pool.observe(w.cfg.Now().Sub(sent)); more > 0 {
			w.spawn(more)
		}
		if err == nil {
			res.Status, res.ErrorCode, res.ErrorMessage = StatusSucceeded, "", ""
			res.HTTPStatus, res.RequestID = answered(out)
			return res
		}
		code, msg, status, id := describe(err)
		if code == "TooManyRequestsException" {
			res.throttled++
		}
		res.Status, res.ErrorCode, res.ErrorMessage = StatusFailed, code, msg
		res.HTTPStatus, res.RequestID = status, id
		if attempt >= w.cfg.MaxAttempts || !shouldRetry(w.waitCtx, err) {
			switch worth := shouldRetry(context.WithoutCancel(w.waitCtx), err); {
			case worth && attempt >= w.cfg.MaxAttempts:
				res.ErrorMessage += "; gave up after " + plural(attempt, "attempt")
			case worth:
				res.ErrorMessage += "; " + stopped(w.stop, "the next retry").Message
			}
			return res
		}
		if !w.sleep(Backoff(attempt, w.cfg.BackoffBase, w.cfg.BackoffMax, jitter)) {
			res.ErrorMessage += "; " + stopped(w.stop, "the next retry").Message
			return res
		}
	}
}

// logAttempt logs one call at debug level: the row by number, id and
// fingerprint, never its token.
func (w *worker) logAttempt(j *job, attempt int, sent time.Time, out *cip.SetUserMFAPreferenceOutput, err error) {
	if !w.cfg.Log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	status, requestID := answered(out)
	code := ""
	if err != nil {
		code, _, status, requestID = describe(err)
	}
	w.cfg.Log.Debug("attempt", "row", j.res.Row, "id", j.res.ID, "token_sha256", j.res.TokenSHA256,
		"region", j.region, "attempt", attempt, "http_status", status, "error_code", code,
		"latency_ms", w.cfg.Now().Sub(sent).Milliseconds(), "request_id", requestID)
}

// ready waits for the row's turn at its region's limiter and checks the
// token is still fresh enough to send.
func (w *worker) ready(j *job, attempt int) *RowError {
	if now := w.cfg.Now(); j.exp.Sub(now) < w.cfg.MinTokenTTL {
		return expired(j.exp, now)
	}
	if err := j.pacer.limiter.Wait(w.waitCtx); err != nil || w.stop.Err() != nil {
		what := "this row was sent"
		if attempt > 1 {
			what = "the next retry"
		}
		return stopped(w.stop, what)
	}
	if now := w.cfg.Now(); j.exp.Sub(now) < w.cfg.MinTokenTTL {
		return expired(j.exp, now)
	}
	return nil
}

func (w *worker) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.waitCtx.Done():
		return false
	}
}

// answered reads the HTTP status and request id of a successful call.
func answered(out *cip.SetUserMFAPreferenceOutput) (status int, requestID string) {
	if out == nil {
		return 0, ""
	}
	requestID, _ = awsmiddleware.GetRequestIDMetadata(out.ResultMetadata)
	if resp, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response); ok {
		status = resp.StatusCode
	}
	return status, requestID
}

// scrub keeps a token out of a message from elsewhere: the whole token is
// replaced by its redacted name, and a message that still quotes any 16
// characters of it is withheld.
func scrub(msg, token, fingerprint string) string {
	const piece = 16
	if msg == "" {
		return msg
	}
	if token != "" {
		msg = strings.ReplaceAll(msg, token, redacted(fingerprint))
	}
	if len(token) < piece {
		if token != "" && strings.Contains(msg, token) {
			return "<message withheld: it quoted the access token>"
		}
		return msg
	}
	for i := 0; i+piece <= len(token); i++ {
		if strings.Contains(msg, token[i:i+piece]) {
			return "<message withheld: it quoted the access token>"
		}
	}
	return msg
}

// plural says "1 attempt" or "3 attempts".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}
