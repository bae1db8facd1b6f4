package batch_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"

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
			switch regions := client.Regions(); {
			case tc.want == "" && len(regions) != 0:
				t.Errorf("calls by region: %v, want none", regions)
			case tc.want != "" && (regions[tc.want] != 3 || len(regions) != 1):
				t.Errorf("calls by region: %v, want 3 to %s", regions, tc.want)
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
		if regions := client.Regions(); len(regions) > 1 || regions["eu-west-1"] > 1 {
			t.Errorf("calls by region: %v, want at most row 1's", regions)
		}
	}
}

// Regions never wait on each other. Three regions interleaved row by row,
// eu-west-1 throttling 70% of calls: us-east-1 and ap-south-1 go at their
// own limiters' pace and finish while eu-west-1, which needs some three
// attempts a row at the same rate, has done under half its rows. The run
// is interrupted then; the report still has every row.
func TestThrottledRegionSlowsOnlyItsRows(t *testing.T) {
	const perRegion = 60
	regions := []string{"us-east-1", "eu-west-1", "ap-south-1"}
	servers := map[string]*cognitotest.Server{}
	for _, region := range regions {
		var decide func(cognitotest.Call) cognitotest.Reply
		if region == "eu-west-1" {
			decide = cognitotest.Mix(1, map[cognitotest.Fault]float64{cognitotest.Throttle: 0.7})
		}
		servers[region] = cognitotest.NewServer(decide)
		t.Cleanup(servers[region].Close)
	}
	sdk, err := batch.NewClient(awsConfig(), "", 16)
	if err != nil {
		t.Fatal(err)
	}
	// Each call goes to its region's server, as the SDK sends it to the
	// region's endpoint; a region without one goes to a closed loopback
	// port.
	client := &fakeClient{SetUserMFAPreferenceFn: func(ctx context.Context, in *cip.SetUserMFAPreferenceInput, optFns ...func(*cip.Options)) (*cip.SetUserMFAPreferenceOutput, error) {
		return sdk.SetUserMFAPreference(ctx, in, append(optFns, func(o *cip.Options) {
			o.BaseEndpoint = aws.String("http://127.0.0.1:1")
			if s, ok := servers[o.Region]; ok {
				o.BaseEndpoint = aws.String(s.URL)
			}
		})...)
	}}
	m, _ := manifest(t, 3*perRegion, func(i int) cognitotest.Claims {
		return cognitotest.Claims{Username: fmt.Sprintf("u%03d", i), Region: regions[i%3]}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := fastConfig()
	cfg.RPS = 40
	finished := map[string]int{}
	euAtEnd := -1 // eu-west-1's finished rows when the others were done
	cfg.OnResult = func(r batch.Result) {
		finished[r.Region]++
		if euAtEnd < 0 && finished["us-east-1"] == perRegion && finished["ap-south-1"] == perRegion {
			euAtEnd = finished["eu-west-1"]
			cancel()
		}
	}
	sink := &collect{}
	if _, err := (&batch.Runner{Client: client, Config: cfg}).Run(ctx, m, sink); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	t.Logf("eu-west-1 had finished %d of %d rows when the other regions were done", euAtEnd, perRegion)
	if euAtEnd < 0 || euAtEnd >= perRegion/2 {
		t.Errorf("eu-west-1 had finished %d of %d rows when the other regions were done, want fewer than half", euAtEnd, perRegion)
	}
	for _, r := range sink.byRow(t, 3*perRegion) {
		if region := regions[(r.Row-1)%3]; region != "eu-west-1" && r.Status != batch.StatusSucceeded {
			t.Errorf("row %d (%s): %s %s", r.Row, region, r.Status, r.ErrorMessage)
		}
	}
	for region, srv := range servers {
		for _, c := range srv.Calls() {
			if claims, _ := batch.ParseToken(batch.Token(c.Token)); claims.Region != region {
				t.Fatalf("%s's endpoint got call %d for a token from %q", region, c.N, claims.Region)
			}
		}
	}
	// Retries too wait on their region's limiter: eu-west-1's, some 1.8
	// a row, would come at hundreds a second otherwise. The margin over
	// 40 is for delivery jitter on a loaded machine.
	if most := servers["eu-west-1"].MaxInWindow(time.Second); most > 50 {
		t.Errorf("eu-west-1 got %d calls in a second, limit is 40/s", most)
	}
}
