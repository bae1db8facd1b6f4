package batch

import (
	"context"
	"log/slog"
	"time"
)

// Config tunes a run. The zero value of each field has the meaning its
// comment gives.
type Config struct {
	Workers     int           // concurrent calls per region; 0 means auto: as many as --rps needs at the latency seen
	RPS         float64       // attempts per second per region, retries included; 0 means unlimited
	Burst       int           // limiter burst; 0 means 1
	MaxAttempts int           // attempts per row, the first included; 0 means 5
	Timeout     time.Duration // limit for one attempt; 0 means 10s
	MinTokenTTL time.Duration // a token expiring within this of its dispatch is not sent
	// Rows go to their token's issuer's region. Region (--region) serves
	// tokens whose issuer names none, and a row whose issuer names another
	// is invalid (RegionMismatch); DefaultRegion (the AWS configuration's)
	// serves tokens naming none when Region is "". With neither, such a
	// row ends the run with a *NoRegionError.
	Region        string
	DefaultRegion string
	Defaults      Settings  // fields for rows that leave them blank
	DryRun        bool      // check and describe every row; send nothing
	MaxFailures   Threshold // halt once failed rows exceed it; the zero value never halts
	Adaptive      bool      // slow down on throttling, recover slowly; needs RPS > 0
	// UserPoolID (--user-pool-id) is the pool of admin rows that name
	// none; a row naming another pool, or a token from another pool, is
	// invalid (UserNotInPool). "" means rows name their own.
	UserPoolID string
	// Credentials, when set, is asked once, before the first admin call,
	// whether AWS credentials can be had; its error ends the run before
	// any call. Secrets, when set, gives the credentials' values, which
	// nothing the service sends back may show.
	Credentials func(context.Context) error
	Secrets     func() []string
	// AlreadyDone reports rows (by token fingerprint, or an admin row's
	// pool and username) that succeeded in an earlier run, with what that
	// run's report said of their state: they are skipped and make no
	// call. nil means none.
	AlreadyDone func(DoneKey) (Prior, bool)
	// Reported reports rows whose Result an earlier pass over the same
	// manifest already gave the sink (the plan writes earlier successes
	// before the first call): they are counted, not written again. nil
	// means none.
	Reported func(row int) bool

	// Reads of users' state (GetUser, AdminGetUser). Plan reads each row's
	// state and writes nothing (StatusPlanned); SkipUnchanged reads it
	// first and skips a row already as asked (Unchanged); Verify reads it
	// back after each successful write (NotApplied when it is not as
	// asked). ReadRPS paces reads per region as RPS paces writes, on a
	// limiter of their own; 0 means unlimited.
	Plan, SkipUnchanged, Verify bool
	ReadRPS                     float64

	Log   *slog.Logger // attempts at debug, halts and slow-downs at info; nil logs nothing
	Shard Shard        // run only this shard's rows; the zero value runs every row
	// OnResult, when set, sees each row's Result as it finishes, after the
	// sink has it, from one goroutine: for progress displays.
	OnResult func(Result)
	// OnCall, when set, hears of each call as it ends, from the workers'
	// goroutines at once: for metrics.
	OnCall func(CallStat)
	// OnHalt, when set, hears why the run halts (see MaxFailures), once,
	// as it happens (within flushEvery): to tell the person at once.
	OnHalt func(reason string)

	BackoffBase time.Duration    // first retry's backoff ceiling; 0 means 200ms
	BackoffMax  time.Duration    // backoff ceiling; 0 means 20s
	Now         func() time.Time // the clock; nil means time.Now
}

// CallStat is one call to the service, as metrics count it.
type CallStat struct {
	Op        string        // OpWrite or OpRead
	Region    string        // where the call went
	Duration  time.Duration // from sending to the answer or the error
	Throttled bool          // the service refused it for rate
	Retry     bool          // a row's second or later attempt
	Limit     float64       // the region's rate after the call, in calls a second; 0 when unlimited
}

// The ops of calls: one that changes a user's settings, and one that
// reads them.
const (
	OpWrite = "write"
	OpRead  = "read"
)

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

// reading is the configuration of a region's reads: paced by ReadRPS.
func (c Config) reading() Config {
	c.RPS = c.ReadRPS
	return c
}

// calls is the rate at which a region's rows make calls, and how many
// calls each row makes: what the pool needs to keep in flight.
func (c Config) calls() (rps float64, perRow int) {
	if c.Plan {
		return c.ReadRPS, 1
	}
	perRow = 1
	if c.SkipUnchanged {
		perRow++
	}
	if c.Verify {
		perRow++
	}
	return c.RPS, perRow
}

// rowBuffer is how many rows each stage of the pipeline may hold for the
// next: enough that the stages run side by side on separate cores rather
// than taking turns, a row at a time.
const rowBuffer = 256

// flushEvery is how often finished rows are flushed to the sink.
const flushEvery = 250 * time.Millisecond
