package main

import (
	"io"
	"testing"
	"time"

	"github.com/mfabatch/mfabatch/batch"
)

// TestNumberFlags gives every number flag values a run cannot use, and
// the ends of its range: each refusal names the flag and the range.
func TestNumberFlags(t *testing.T) {
	type flagCase struct {
		flag string
		want string   // the range, as the error says it
		bad  []string // refused
		good []string // taken, with what they set
		got  func(f *runFlags) any
		set  []any // what each good value sets
	}
	cases := []flagCase{
		{
			flag: "rps", want: "0 (unlimited) or a number from 0.01 to 10000",
			bad:  []string{"NaN", "nan", "Inf", "+Inf", "-Inf", "Infinity", "-1", "-0.5", "0.009", "10000.5", "1e400", "0x1p-20", "", "ten"},
			good: []string{"0", "0.01", "2.5", "10000", " 25 "},
			set:  []any{0.0, 0.01, 2.5, 10000.0, 25.0},
			got:  func(f *runFlags) any { return f.rps },
		},
		{
			flag: "burst", want: "a whole number from 1 to 10000",
			bad:  []string{"NaN", "Inf", "0", "-1", "10001", "1e3", "2.5", "99999999999999999999"},
			good: []string{"1", "10000"},
			set:  []any{1, 10000},
			got:  func(f *runFlags) any { return f.burst },
		},
		{
			flag: "workers", want: "auto or a whole number from 1 to 4096",
			bad:  []string{"NaN", "Inf", "0", "-1", "4097", "Auto", "1.5"},
			good: []string{"auto", "1", "4096"},
			set:  []any{0, 1, 4096},
			got:  func(f *runFlags) any { return f.workers },
		},
		{
			flag: "max-attempts", want: "a whole number from 1 to 100",
			bad:  []string{"NaN", "Inf", "0", "-1", "101"},
			good: []string{"1", "100"},
			set:  []any{1, 100},
			got:  func(f *runFlags) any { return f.maxAttempts },
		},
		{
			flag: "timeout", want: "a duration from 1ms to 1h, such as 10s",
			bad:  []string{"NaN", "Inf", "0", "0s", "-1s", "999us", "1h1s", "1e9h", "9999999999h", "5"},
			good: []string{"1ms", "200ms", "1h"},
			set:  []any{time.Millisecond, 200 * time.Millisecond, time.Hour},
			got:  func(f *runFlags) any { return f.timeout },
		},
		{
			flag: "min-token-ttl", want: "a duration from 0s to 24h, such as 5s",
			bad:  []string{"NaN", "Inf", "-1s", "-1ns", "24h1s", "1e9h"},
			good: []string{"0", "0s", "24h"},
			set:  []any{time.Duration(0), time.Duration(0), 24 * time.Hour},
			got:  func(f *runFlags) any { return f.minTokenTTL },
		},
		{
			flag: "progress-interval", want: "a duration from 100ms to 24h, such as 30s",
			bad:  []string{"NaN", "0", "0s", "-1s", "99ms", "25h", "1e9h"},
			good: []string{"100ms", "24h"},
			set:  []any{100 * time.Millisecond, 24 * time.Hour},
			got:  func(f *runFlags) any { return f.progressInterval },
		},
		{
			flag: "max-failures", want: "N (a whole number from 1), N% (more than 0, at most 100) or off",
			bad:  []string{"NaN", "NaN%", "nan%", "Inf%", "+Inf%", "-Inf%", "Infinity%", "-1", "0", "0%", "-5%", "100.5%", "1e400%", "1.5"},
			good: []string{"1", "0.5%", "100%", "off"},
			set:  []any{batch.Threshold{Count: 1}, batch.Threshold{Percent: 0.5}, batch.Threshold{Percent: 100}, batch.Threshold{}},
			got:  func(f *runFlags) any { return f.maxFailures },
		},
		{
			flag: "shard-count", want: "a whole number from 1 to 100000",
			bad:  []string{"NaN", "0", "-1", "100001"},
			good: []string{"1", "100000"},
			set:  []any{1, 100000},
			got:  func(f *runFlags) any { return f.shardCount },
		},
	}
	for _, c := range cases {
		for _, v := range c.bad {
			_, _, err := parseRunFlags([]string{"--" + c.flag, v, "m.csv"}, io.Discard)
			want := "--" + c.flag + " " + quote(v) + ": want " + c.want
			if err == nil || err.Error() != want {
				t.Errorf("--%s %q: error %v, want %q", c.flag, v, err, want)
			}
		}
		for i, v := range c.good {
			f, _, err := parseRunFlags([]string{"--" + c.flag, v, "m.csv"}, io.Discard)
			if err != nil {
				t.Errorf("--%s %q: %v", c.flag, v, err)
				continue
			}
			if got := c.got(f); got != c.set[i] {
				t.Errorf("--%s %q sets %v, want %v", c.flag, v, got, c.set[i])
			}
		}
	}
}

// TestNumberFlagDefaults checks the defaults the README gives.
func TestNumberFlagDefaults(t *testing.T) {
	f, _, err := parseRunFlags([]string{"m.csv"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	got := []any{f.rps, f.burst, f.workers, f.maxAttempts, f.timeout, f.minTokenTTL, f.progressInterval, f.maxFailures, f.shardCount}
	want := []any{10.0, 1, 0, 5, 10 * time.Second, 5 * time.Second, 30 * time.Second, batch.Threshold{Percent: 50}, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("default %d is %v, want %v", i, got[i], want[i])
		}
	}
}
