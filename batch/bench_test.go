package batch_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

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
