package batch_test

import (
	"context"
	"testing"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// A run asking more than the service grants slows to what it grants and
// every row still succeeds; without adaptive pacing it keeps its rate.
func TestAdaptivePacingSlowsToTheGrantedRate(t *testing.T) {
	for _, adaptive := range []bool{true, false} {
		name := map[bool]string{true: "adaptive", false: "fixed"}[adaptive]
		t.Run(name, func(t *testing.T) {
			_, client := serve(t, cognitotest.Grant(40, 40))
			m, _ := manifest(t, 80, nil)
			cfg := fastConfig()
			cfg.RPS, cfg.Burst, cfg.Adaptive, cfg.MaxAttempts = 120, 1, adaptive, 30
			sink := &collect{}
			sum, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range sink.byRow(t, 80) {
				if r.Status != batch.StatusSucceeded {
					t.Errorf("row %d: %s %s", r.Row, r.Status, r.ErrorCode)
				}
			}
			final, slowed := sum.FinalRPS["us-east-1"]
			switch {
			case adaptive && (!slowed || final >= 120 || final < 1.2):
				t.Errorf("final rate %v (slowed %v), want below --rps 120 and above the floor", final, slowed)
			case !adaptive && slowed:
				t.Errorf("fixed pacing changed the rate to %v", final)
			}
			if sum.Throttled == 0 {
				t.Errorf("no call was throttled: the test did not test throttling")
			}
		})
	}
}
