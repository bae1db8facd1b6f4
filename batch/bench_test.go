package batch_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// discard is a Sink that keeps nothing.
type discard struct{}

func (discard) Write(batch.Result) error { return nil }
func (discard) Flush() error             { return nil }

func benchManifest(b *testing.B, n int) string { return benchManifestTB(b, n) }

func benchManifestTB(b testing.TB, n int) string {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("id,access_token,software_token_enabled,software_token_preferred\n")
	exp := time.Now().Add(time.Hour)
	for i := range n {
		fmt.Fprintf(&sb, "u%d,%s,true,true\n", i, cognitotest.Token(cognitotest.Claims{Username: fmt.Sprintf("user%07d", i), Exp: exp}))
	}
	return sb.String()
}

// BenchmarkRun measures the tool's own cost per row: a live run against
// an in-process Cognito with no latency, unlimited rate, 32 workers.
func BenchmarkRun(b *testing.B) {
	srv := cognitotest.NewServer(nil)
	defer srv.Close()
	const n = 2000
	text := benchManifest(b, n)
	client, err := batch.NewClient(awsConfig(), srv.URL, 32)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		m, err := batch.ReadCSV(strings.NewReader(text))
		if err != nil {
			b.Fatal(err)
		}
		sum, err := (&batch.Runner{Client: client, Config: batch.Config{Workers: 32}}).Run(context.Background(), m, discard{})
		if err != nil || sum.Statuses[batch.StatusSucceeded] != n {
			b.Fatalf("err=%v statuses=%v", err, sum.Statuses)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkDryRun measures checking rows and building their requests.
func BenchmarkDryRun(b *testing.B) {
	const n = 20000
	text := benchManifest(b, n)
	b.ResetTimer()
	for b.Loop() {
		m, err := batch.ReadCSV(strings.NewReader(text))
		if err != nil {
			b.Fatal(err)
		}
		sum, err := (&batch.Runner{Config: batch.Config{DryRun: true, RPS: 25}}).Run(context.Background(), m, discard{})
		if err != nil || sum.Statuses[batch.StatusDryRun] != n {
			b.Fatalf("err=%v statuses=%v", err, sum.Statuses)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// BenchmarkAdaptivePacing measures how close adaptive pacing comes to a
// service that grants 20 calls/s when asked for 50: the share of calls
// throttled and the rows/s achieved.
func BenchmarkAdaptivePacing(b *testing.B) {
	const rows, granted, asked = 400, 20.0, 50.0
	for b.Loop() {
		srv := cognitotest.NewServer(cognitotest.Grant(granted, int(granted)))
		client, err := batch.NewClient(awsConfig(), srv.URL, 8)
		if err != nil {
			b.Fatal(err)
		}
		m, err := batch.ReadCSV(stringsReader(benchManifest(b, rows)))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		sum, err := (&batch.Runner{Client: client, Config: batch.Config{RPS: asked, Adaptive: true, MaxAttempts: 50}}).Run(context.Background(), m, discard{})
		elapsed := time.Since(start)
		srv.Close()
		if err != nil || sum.Statuses[batch.StatusSucceeded] != rows {
			b.Fatalf("err=%v statuses=%v", err, sum.Statuses)
		}
		b.ReportMetric(100*float64(sum.Throttled)/float64(sum.Attempts), "%throttled")
		b.ReportMetric(float64(rows)/elapsed.Seconds()/granted*100, "%of-granted")
		b.ReportMetric(sum.FinalRPS["us-east-1"], "final-rps")
	}
}

// BenchmarkSharedQuota runs the tool beside the account's production
// traffic on one quota: 25 calls/s in all, production
// steady at 15/s for 40 s, the tool at --rps 25 with adaptive pacing and
// 50 ms latency. It reports, from the same run, the share of production's
// calls throttled and the tool's successful calls a second against the
// 10/s production leaves.
func BenchmarkSharedQuota(b *testing.B) {
	const grant, production, rps, seconds = 25.0, 15.0, 25.0, 40
	for b.Loop() {
		quota := cognitotest.NewQuota(grant, int(grant))
		var succeeded atomic.Int64
		srv := cognitotest.NewServer(func(c cognitotest.Call) cognitotest.Reply {
			r := quota.Decide(c)
			if r.Fault == cognitotest.None {
				succeeded.Add(1)
			}
			r.Delay = 50 * time.Millisecond
			return r
		})
		client, err := batch.NewClient(awsConfig(), srv.URL, 16)
		if err != nil {
			b.Fatal(err)
		}
		// More rows than --rps can send in the time: the run is stopped
		// when production's 40 s are over.
		m, err := batch.ReadCSV(stringsReader(benchManifest(b, rps*seconds*5/4)))
		if err != nil {
			b.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := (&batch.Runner{Client: client, Config: batch.Config{RPS: rps, Adaptive: true}}).Run(ctx, m, discard{})
			done <- err
		}()
		start := time.Now()
		prod := quota.Steady(context.Background(), production, production*seconds)
		// Over production's time: 40 s, or more on a busy machine.
		tool := float64(succeeded.Load()) / time.Since(start).Seconds()
		stop()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			b.Fatal(err)
		}
		srv.Close()
		b.ReportMetric(100*float64(prod.Throttled)/float64(prod.Sent), "%prod-throttled")
		b.ReportMetric(tool, "rows/s")
		b.ReportMetric(100*tool/(grant-production), "%of-leftover")
	}
}

// BenchmarkSigV4 is the CPU an admin call's signature costs: the SDK's v4
// signer over a request as the tool sends it.
func BenchmarkSigV4(b *testing.B) {
	s := batch.Settings{SoftwareToken: batch.Factor{Enabled: batch.True, Preferred: batch.True}}
	body := batch.AdminBody(s.AdminInput("eu-west-1_AbC123", "alice@example.com"))
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	creds := aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: "session"}
	signer := v4.NewSigner()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("POST", "https://cognito-idp.eu-west-1.amazonaws.com/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "AWSCognitoIdentityProviderService.AdminSetUserMFAPreference")
		if err := signer.SignHTTP(context.Background(), creds, req, hash, "cognito-idp", "eu-west-1", now); err != nil {
			b.Fatal(err)
		}
	}
}
