package report

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/mfabatch/mfabatch/batch"
)

// WriteSummary writes the run's summary for a person to read.
func WriteSummary(w io.Writer, s *batch.Summary) error {
	var b strings.Builder
	kind := "run"
	if s.DryRun {
		kind = "dry run"
	}
	if s.Shard != "" {
		kind += " of shard " + s.Shard
	}
	fmt.Fprintf(&b, "mfabatch: %s: %s in %s", kind, plural(s.Rows, "row"), seconds(s.Elapsed))
	if !s.DryRun {
		fmt.Fprintf(&b, ", %s, %.1f requests/s", plural(s.Attempts, "call"), s.RPS)
	}
	b.WriteString("\n")
	if len(s.Statuses) > 0 {
		fmt.Fprintf(&b, "  rows: %s\n", statusCounts(s.Statuses))
	}
	var parts []string
	pools := make([]string, 0, len(s.Pools))
	for p := range s.Pools {
		pools = append(pools, p)
	}
	slices.Sort(pools)
	for _, p := range pools {
		fmt.Fprintf(&b, "  pool %s: %s\n", p, statusCounts(s.Pools[p]))
	}
	codes := make([]string, 0, len(s.ErrorCodes))
	for c := range s.ErrorCodes {
		codes = append(codes, c)
	}
	slices.SortFunc(codes, func(a, c string) int {
		if d := s.ErrorCodes[c] - s.ErrorCodes[a]; d != 0 {
			return d
		}
		return strings.Compare(a, c)
	})
	parts = parts[:0]
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%s %d", c, s.ErrorCodes[c]))
	}
	if len(parts) > 0 {
		fmt.Fprintf(&b, "  errors: %s\n", strings.Join(parts, ", "))
	}
	writeForecast(&b, s)
	if s.Throttled > 0 {
		fmt.Fprintf(&b, "  throttled: %s of %d\n", plural(s.Throttled, "call"), s.Attempts)
	}
	regions := make([]string, 0, len(s.FinalRPS))
	for r := range s.FinalRPS {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	for _, r := range regions {
		fmt.Fprintf(&b, "  %s: slowed to %.1f requests/s by throttling\n", r, s.FinalRPS[r])
	}
	writeState(&b, s)
	if s.Interrupted {
		b.WriteString("  interrupted: rows not sent are reported not_attempted\n")
	}
	if s.Halted != "" {
		fmt.Fprintf(&b, "  halted: %s; rows not sent are reported not_attempted\n", s.Halted)
	}
	writePlanned(&b, s)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeForecast says what a dry run foresees at --rps.
func writeForecast(b *strings.Builder, s *batch.Summary) {
	if s.DryRun {
		if s.EstimatedSeconds != nil {
			fmt.Fprintf(b, "  estimated run time at --rps: %s\n", seconds(*s.EstimatedSeconds))
		} else {
			b.WriteString("  estimated run time: not limited (--rps 0)\n")
		}
		if s.WouldExpire != nil {
			fmt.Fprintf(b, "  tokens that would expire before their turn: %d\n", *s.WouldExpire)
		}
	}
}

// writeState counts what the reads of a run with --skip-unchanged or
// --verify found.
func writeState(b *strings.Builder, s *batch.Summary) {
	if s.Changed != nil {
		fmt.Fprintf(b, "  state: %d changed, %d unchanged, %d not applied", *s.Changed, *s.Unchanged, *s.NotApplied)
		if s.Unverified != nil && *s.Unverified > 0 {
			fmt.Fprintf(b, ", %d written but not read back", *s.Unverified)
		}
		b.WriteString("\n")
	}
}

// writePlanned ends a --plan run's summary with its counts.
func writePlanned(b *strings.Builder, s *batch.Summary) {
	if s.Planned != nil {
		fmt.Fprintf(b, "mfabatch: plan: %d to change, %d unchanged, %d invalid, %d unreadable\n",
			*s.ToChange, *s.Unchanged, s.Statuses[batch.StatusInvalid], s.Statuses[batch.StatusFailed])
	}
}

// PlanLine says what a run is about to do, from a dry run's summary of
// the same rows.
func PlanLine(s *batch.Summary) string {
	send := s.Statuses[batch.StatusDryRun]
	verb, flag := "send", "--rps"
	if s.Plan {
		verb, flag = "read", "--read-rps"
	}
	line := fmt.Sprintf("mfabatch: plan: %s, %d to %s", plural(s.Rows, "row"), send, verb)
	if other := s.Rows - send; other > 0 {
		line += fmt.Sprintf(", %d invalid or skipped", other)
	}
	if s.EstimatedSeconds != nil {
		line += fmt.Sprintf("; about %s at %s", seconds(*s.EstimatedSeconds), flag)
	}
	if s.WouldExpire != nil && *s.WouldExpire > 0 {
		line += fmt.Sprintf("; %s will expire before their turn (reported invalid, TokenExpired): try --order expiry, a higher --rps, or fresher tokens", plural(*s.WouldExpire, "token"))
	}
	return line
}

// WriteSummaryJSON writes the summary as one JSON object.
func WriteSummaryJSON(w io.Writer, s *batch.Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// statusCounts says "succeeded 5, failed 1" in the order of batch.Statuses.
func statusCounts(counts map[batch.Status]int) string {
	var parts []string
	for _, st := range batch.Statuses {
		if n := counts[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", st, n))
		}
	}
	return strings.Join(parts, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func seconds(f float64) string {
	return time.Duration(f * float64(time.Second)).Round(time.Millisecond).String()
}
