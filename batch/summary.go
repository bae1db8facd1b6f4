package batch

import (
	"math"
	"time"
)

// Summary counts what a run did.
type Summary struct {
	Rows        int            `json:"rows"`
	Statuses    map[Status]int `json:"statuses"`
	ErrorCodes  map[string]int `json:"error_codes"`
	Attempts    int            `json:"attempts"`
	Elapsed     float64        `json:"elapsed_seconds"`
	RPS         float64        `json:"requests_per_second"` // attempts made per second of the run
	Interrupted bool           `json:"interrupted,omitempty"`
	Halted      string         `json:"halted,omitempty"` // why the failure threshold stopped the run
	// FinalRPS is each region's rate at the end, where adaptive pacing
	// slowed it below --rps.
	FinalRPS map[string]float64 `json:"final_rps,omitempty"`
	// Pools counts rows per status for each user pool, from the tokens'
	// issuers; rows whose token could not be read are not counted here.
	Pools map[string]map[Status]int `json:"pools,omitempty"`
	// Shard is the part of the manifest this run took, as "I/N".
	Shard string `json:"shard,omitempty"`
	// Workers is how many workers the run ended with.
	Workers int `json:"workers,omitempty"`
	// Throttled counts calls the service throttled.
	Throttled int  `json:"throttled_calls,omitempty"`
	DryRun    bool `json:"dry_run,omitempty"`

	// With reads on (--plan, --skip-unchanged, --verify): rows written
	// that were not known to be as asked already; rows already as asked
	// (skipped, or planned with action none); rows whose state read back
	// was not as asked; rows written whose state could not be read back;
	// and, for --plan, rows planned and those of them a write would change.
	Plan       bool `json:"plan,omitempty"` // --plan: the state is read, nothing written
	Changed    *int `json:"changed,omitempty"`
	Unchanged  *int `json:"unchanged,omitempty"`
	NotApplied *int `json:"not_applied,omitempty"`
	Unverified *int `json:"unverified,omitempty"`
	Planned    *int `json:"planned,omitempty"`
	ToChange   *int `json:"to_change,omitempty"`

	// A dry run's forecast at the configured rate.
	EstimatedSeconds *float64 `json:"estimated_seconds,omitempty"`
	WouldExpire      *int     `json:"tokens_expiring_before_their_turn,omitempty"`

	configRPS float64
	longest   time.Duration
	pacers    []*pacer
}

func newSummary(cfg Config) *Summary {
	s := &Summary{Statuses: map[Status]int{}, ErrorCodes: map[string]int{}, DryRun: cfg.DryRun, configRPS: cfg.RPS}
	if cfg.Shard.Count > 1 {
		s.Shard = cfg.Shard.String()
	}
	if cfg.DryRun {
		s.WouldExpire = new(int)
	}
	s.Plan = cfg.Plan
	switch {
	case cfg.DryRun:
	case cfg.Plan:
		s.Planned, s.ToChange, s.Unchanged = new(int), new(int), new(int)
	case cfg.SkipUnchanged || cfg.Verify:
		s.Changed, s.Unchanged, s.NotApplied = new(int), new(int), new(int)
		if cfg.Verify {
			s.Unverified = new(int)
		}
	}
	return s
}

// addState counts what r's reads found, in a run with reads on.
func (s *Summary) addState(r Result) {
	switch {
	case s.Planned != nil:
		if r.Status == StatusPlanned {
			*s.Planned++
			if r.Action == ActionChange {
				*s.ToChange++
			} else {
				*s.Unchanged++
			}
		}
	case s.Changed == nil:
	case r.ErrorCode == CodeUnchanged:
		*s.Unchanged++
	case r.ErrorCode == CodeNotApplied:
		*s.NotApplied++
	case r.Status == StatusSucceeded:
		*s.Changed++
		if s.Unverified != nil && !r.After.Known() {
			*s.Unverified++
		}
	}
}

func (s *Summary) add(r Result) {
	s.Rows++
	s.Statuses[r.Status]++
	if r.ErrorCode != "" {
		s.ErrorCodes[r.ErrorCode]++
	}
	s.Attempts += r.Attempts
	if r.UserPoolID != "" {
		if s.Pools == nil {
			s.Pools = map[string]map[Status]int{}
		}
		if s.Pools[r.UserPoolID] == nil {
			s.Pools[r.UserPoolID] = map[Status]int{}
		}
		s.Pools[r.UserPoolID][r.Status]++
	}
	s.Throttled += r.throttled
	s.addState(r)
}

// noteDryRun records one sendable row of a dry run: when its turn would
// come, and whether its token would be too close to expiry by then.
func (s *Summary) noteDryRun(wait time.Duration, expires bool) {
	s.longest = max(s.longest, wait)
	if expires {
		*s.WouldExpire++
	}
}

func (s *Summary) finish(elapsed time.Duration) {
	s.Elapsed = round3(elapsed.Seconds())
	if elapsed > 0 {
		s.RPS = round3(float64(s.Attempts) / elapsed.Seconds())
	}
	for _, p := range s.pacers {
		if cur, slowed := p.rate(); slowed {
			if s.FinalRPS == nil {
				s.FinalRPS = map[string]float64{}
			}
			s.FinalRPS[p.region] = round3(cur)
		}
	}
	if s.DryRun && s.configRPS > 0 {
		est := round3(s.longest.Seconds())
		s.EstimatedSeconds = &est
	}
}

// OK reports whether every row succeeded (in a dry run: was valid) or
// was skipped as already done.
func (s *Summary) OK() bool {
	return s.Statuses[StatusFailed]+s.Statuses[StatusInvalid]+s.Statuses[StatusNotAttempted] == 0 && !s.Interrupted && s.Halted == ""
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
