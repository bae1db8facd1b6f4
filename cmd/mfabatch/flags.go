package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mfabatch/mfabatch/batch"
)

// The number flags' ranges. strconv and time read NaN, infinities and
// values no run means ("--rps Inf" once sent 7,769 calls a second), so
// each flag takes only what a run can use.
const (
	minRPS              = 0.01 // a call every 100s
	maxRPS              = 10000
	maxBurst            = maxRPS
	maxWorkers          = 4096
	maxAttempts         = 100
	minTimeout          = time.Millisecond
	maxTimeout          = time.Hour
	maxMinTokenTTL      = 24 * time.Hour // tokens live a day at most
	minProgressInterval = 100 * time.Millisecond
	maxProgressInterval = 24 * time.Hour
	maxShards           = 100000 // a Kubernetes Indexed Job's completions at most
)

// numberFlag is a flag whose value must be a number in a range. A value
// it refuses is kept in *bad, so the error the person reads names the
// flag and the range the way the tool's other errors do.
type numberFlag struct {
	name string
	want string            // the values allowed, for the error
	set  func(string) bool // stores s's value; false when s is not allowed
	show func() string
	bad  *error
}

func (n numberFlag) String() string {
	if n.show == nil {
		return ""
	}
	return n.show()
}

func (n numberFlag) Set(s string) error {
	if n.set(strings.TrimSpace(s)) {
		return nil
	}
	err := usageError{fmt.Sprintf("--%s %q: want %s", n.name, s, n.want), ""}
	*n.bad = err
	return err
}

// numberFlags defines a flag set's number flags and keeps the first value
// refused.
type numberFlags struct {
	fs  *flag.FlagSet
	bad error
}

// add defines a number flag. Its help names the value between
// backquotes, as flag.PrintDefaults shows it: "-burst N".
func (nf *numberFlags) add(name, want, help string, set func(string) bool, show func() string) {
	nf.fs.Var(numberFlag{name: name, want: want, set: set, show: show, bad: &nf.bad}, name, help)
}

// float defines a number flag; ok says which values it takes, want and
// allowed say them in an error and in the help.
func (nf *numberFlags) float(p *float64, name string, def float64, usage, want, allowed string, ok func(float64) bool) {
	*p = def
	nf.add(name, want, usage+": `N` "+allowed, func(s string) bool {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !ok(v) {
			return false
		}
		*p = v
		return true
	}, func() string { return strconv.FormatFloat(*p, 'g', -1, 64) })
}

// int defines a whole-number flag from lo to hi.
func (nf *numberFlags) int(p *int, name string, def, lo, hi int, usage string) {
	*p = def
	want := fmt.Sprintf("a whole number from %d to %d", lo, hi)
	help := fmt.Sprintf("%s: `N` from %d to %d", usage, lo, hi)
	nf.add(name, want, help, func(s string) bool {
		v, err := strconv.Atoi(s)
		if err != nil || v < lo || v > hi {
			return false
		}
		*p = v
		return true
	}, func() string {
		if *p == 0 {
			return "" // not given, as --shard-count's default
		}
		return strconv.Itoa(*p)
	})
}

// duration defines a duration flag from lo to hi.
func (nf *numberFlags) duration(p *time.Duration, name string, def, lo, hi time.Duration, usage string) {
	*p = def
	want := fmt.Sprintf("a duration from %s to %s, such as %s", shortDuration(lo), shortDuration(hi), shortDuration(def))
	help := fmt.Sprintf("%s: `D` from %s to %s", usage, shortDuration(lo), shortDuration(hi))
	nf.add(name, want, help, func(s string) bool {
		v, err := time.ParseDuration(s)
		if err != nil || v < lo || v > hi {
			return false
		}
		*p = v
		return true
	}, func() string { return shortDuration(*p) })
}

// workers defines --workers: auto (0) or a count.
func (nf *numberFlags) workers(p *int, usage string) {
	want := fmt.Sprintf("auto or a whole number from 1 to %d", maxWorkers)
	help := fmt.Sprintf("%s: `N` from 1 to %d, or auto", usage, maxWorkers)
	nf.add("workers", want, help, func(s string) bool {
		if s == "auto" {
			*p = 0
			return true
		}
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > maxWorkers {
			return false
		}
		*p = v
		return true
	}, func() string {
		if *p == 0 {
			return "auto"
		}
		return strconv.Itoa(*p)
	})
}

// threshold defines --max-failures: N, N% or off.
func (nf *numberFlags) threshold(p *batch.Threshold, def batch.Threshold, usage string) {
	*p = def
	nf.add("max-failures", "N (a whole number from 1), N% (more than 0, at most 100) or off", usage, func(s string) bool {
		t, err := batch.ParseThreshold(s)
		if err != nil {
			return false
		}
		*p = t
		return true
	}, func() string { return p.String() })
}

// shortDuration writes d without zero units: 1h, not 1h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
