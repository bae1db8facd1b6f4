package batch_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// emulatorIssuer names no region, as cognito-local's issuers do.
const emulatorIssuer = "http://127.0.0.1:9229/local_5lXYvdd8"

// A token is valid only in its issuer's region, so each row goes there.
// --region (Config.Region), else the AWS configuration's region
// (Config.DefaultRegion), serves only tokens whose issuer names none; a
// --region other than the issuer's makes the row invalid, with no call.
func TestRegionOfARow(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		issuer                string // "" for a Cognito issuer in eu-west-1
		region, defaultRegion string
		want                  string // the region called and reported; "" for none
		code                  string
	}{
		{name: "issuer's region", want: "eu-west-1"},
		{name: "AWS config region leaves the issuer's alone", defaultRegion: "us-east-2", want: "eu-west-1"},
		{name: "--region matching the issuer", region: "eu-west-1", defaultRegion: "us-east-2", want: "eu-west-1"},
		{name: "--region from another region", region: "us-west-2", code: batch.CodeRegionMismatch},
		{name: "emulator token with --region", issuer: emulatorIssuer, region: "us-west-2", defaultRegion: "us-east-2", want: "us-west-2"},
		{name: "emulator token with the AWS config region", issuer: emulatorIssuer, defaultRegion: "ap-south-1", want: "ap-south-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := manifest(t, 3, func(i int) cognitotest.Claims {
				return cognitotest.Claims{Username: "u" + string(rune('a'+i)), Region: "eu-west-1", Issuer: tc.issuer}
			})
			client := &fakeClient{}
			cfg := fastConfig()
			cfg.Region, cfg.DefaultRegion = tc.region, tc.defaultRegion
			sink := &collect{}
			if _, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, sink); err != nil {
				t.Fatal(err)
			}
			for _, r := range sink.byRow(t, 3) {
				switch {
				case tc.code != "":
					if r.Status != batch.StatusInvalid || r.ErrorCode != tc.code || r.Attempts != 0 ||
						r.ErrorMessage != "the token is from eu-west-1, not --region us-west-2: a token is valid only in its issuer's region; leave --region out to send each row there" {
						t.Errorf("row %d: %s %s %q after %d attempts, want invalid %s with no call", r.Row, r.Status, r.ErrorCode, r.ErrorMessage, r.Attempts, tc.code)
					}
				case r.Status != batch.StatusSucceeded || r.Region != tc.want:
					t.Errorf("row %d: %s %s, region %q; want succeeded in %s", r.Row, r.Status, r.ErrorMessage, r.Region, tc.want)
				}
			}
			switch {
			case tc.want == "" && len(client.calls) != 0:
				t.Errorf("calls by region: %v, want none", client.calls)
			case tc.want != "" && (len(client.calls[tc.want]) != 3 || len(client.calls) != 1):
				t.Errorf("calls by region: %v, want 3 to %s", client.calls, tc.want)
			}
		})
	}
}

// A token naming no region, when no region is configured, ends the run
// (live or dry) at its row with a *NoRegionError, not an invalid row per
// line; rows before it that name their region are unaffected.
func TestNoRegionEndsTheRun(t *testing.T) {
	for _, dry := range []bool{false, true} {
		m, _ := manifest(t, 4, func(i int) cognitotest.Claims {
			c := cognitotest.Claims{Username: "u" + string(rune('a'+i)), Region: "eu-west-1"}
			if i >= 1 {
				c.Issuer = emulatorIssuer
			}
			return c
		})
		client := &fakeClient{}
		cfg := fastConfig()
		cfg.DryRun = dry
		_, err := (&batch.Runner{Client: client, Config: cfg}).Run(context.Background(), m, &collect{})
		var nre *batch.NoRegionError
		if !errors.As(err, &nre) || nre.Row != 2 || nre.Issuer != emulatorIssuer {
			t.Fatalf("dry run %v: err = %v, want a *NoRegionError for row 2", dry, err)
		}
		if want := `row 2: the token's issuer "` + emulatorIssuer + `" names no Cognito region, and no region is configured`; err.Error() != want {
			t.Errorf("error %q, want %q", err, want)
		}
		if n := len(client.calls["eu-west-1"]); len(client.calls) > 1 || n > 1 {
			t.Errorf("calls by region: %v, want at most row 1's", client.calls)
		}
	}
}
