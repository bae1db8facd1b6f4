package main_test

// End-to-end tests of s3:// paths: the built binary against moto_server's
// S3, with the fake Cognito endpoint taking the calls, so that the calls
// each user got can be counted.

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// s3Fixture is an S3 endpoint, a bucket in it, and a fake Cognito.
type s3Fixture struct {
	tl      *tool
	s3      *s3.Client
	url     string // the S3 endpoint
	bucket  string
	cognito *cognitotest.Server
	tokens  map[string]string // token to username
}

func newS3Fixture(t *testing.T, tl *tool, url, bucket string) *s3Fixture {
	t.Helper()
	c := s3.New(s3.Options{
		Region: motoRegion, BaseEndpoint: aws.String(url), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:  &http.Client{Transport: &http.Transport{}},
	})
	if _, err := c.CreateBucket(t.Context(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("CreateBucket: %v", err)
	}
	srv := cognitotest.NewServer(func(cognitotest.Call) cognitotest.Reply { return cognitotest.Reply{} })
	t.Cleanup(srv.Close)
	return &s3Fixture{tl: tl, s3: c, url: url, bucket: bucket, cognito: srv, tokens: map[string]string{}}
}

// env is what the runs add to the tool's environment: credentials and
// moto's S3.
func (f *s3Fixture) env(extra ...string) []string {
	return append([]string{
		"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=" + motoRegion,
		"AWS_ENDPOINT_URL_S3=" + f.url,
	}, extra...)
}

// run runs the tool against the fake Cognito.
func (f *s3Fixture) run(t *testing.T, env []string, args ...string) toolResult {
	t.Helper()
	res := f.tl.runEnv(t, env, append([]string{"run", "--endpoint-url", f.cognito.URL}, args...)...)
	f.noLeak(t, res.stdout, res.stderr)
	return res
}

// manifest writes a CSV manifest of n users named prefix001... to key.
func (f *s3Fixture) manifest(t *testing.T, key, prefix string, n int) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("id,access_token,sms_enabled\n")
	for i := 1; i <= n; i++ {
		user := fmt.Sprintf("%s%03d", prefix, i)
		token := cognitotest.Token(cognitotest.Claims{Username: user})
		f.tokens[token] = user
		fmt.Fprintf(&b, "%s,%s,true\n", user, token)
	}
	f.put(t, key, b.Bytes())
}

func (f *s3Fixture) put(t *testing.T, key string, body []byte) {
	t.Helper()
	_, err := f.s3.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
}

func (f *s3Fixture) get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := f.s3.GetObject(t.Context(), &s3.GetObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	f.noLeak(t, b)
	return b
}

func (f *s3Fixture) keys(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := f.s3.ListObjectsV2(t.Context(), &s3.ListObjectsV2Input{Bucket: aws.String(f.bucket), Prefix: aws.String(prefix)})
	if err != nil {
		t.Fatalf("ListObjectsV2 %s: %v", prefix, err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// calls counts the Cognito calls each user has had.
func (f *s3Fixture) calls() map[string]int {
	n := map[string]int{}
	for _, c := range f.cognito.Calls() {
		n[f.tokens[c.Token]]++
	}
	return n
}

// noLeak fails the test if any 16 characters of a token are in outs.
func (f *s3Fixture) noLeak(t *testing.T, outs ...[]byte) {
	t.Helper()
	for token, user := range f.tokens {
		for i := 0; i+16 <= len(token); i += 8 {
			for _, out := range outs {
				if bytes.Contains(out, []byte(token[i:i+16])) {
					t.Fatalf("a piece of %s's token is in the output", user)
				}
			}
		}
	}
}

// statuses reads a CSV report and counts its rows by status and code.
func statuses(t *testing.T, report []byte) map[string]int {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(report)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("report: %v\n%s", err, report)
	}
	col := map[string]int{}
	for i, name := range recs[0] {
		col[name] = i
	}
	n := map[string]int{}
	for _, r := range recs[1:] {
		n[r[col["status"]]+"/"+r[col["error_code"]]]++
	}
	return n
}

func TestS3(t *testing.T) {
	url := startMoto(t)
	tl := newTool(t)
	t.Run("RoundTrip", func(t *testing.T) { testS3RoundTrip(t, newS3Fixture(t, tl, url, "round-trip")) })
	t.Run("KillResume", func(t *testing.T) { testS3KillResume(t, newS3Fixture(t, tl, url, "kill-resume")) })
}

// testS3RoundTrip reads the manifest from S3, writes the report and the
// summary there, encrypted, and resumes from that report with no call.
func testS3RoundTrip(t *testing.T, f *s3Fixture) {
	const n = 25
	f.manifest(t, "in/users.csv", "user", n)
	env := f.env()
	res := f.run(t, env, "--rps", "0", "--report", "s3://round-trip/out/report.csv", "--summary", "s3://round-trip/out/summary.json",
		"--metrics-file", "s3://round-trip/out/mfabatch.prom", "s3://round-trip/in/users.csv")
	if res.exit != 0 {
		t.Fatalf("exit %d\n%s", res.exit, res.stderr)
	}
	prom := string(f.get(t, "out/mfabatch.prom"))
	if !strings.Contains(prom, `mfabatch_rows_total{status="succeeded"} 25`+"\n") || !strings.Contains(prom, "mfabatch_last_success_timestamp_seconds ") {
		t.Errorf("the metrics object lacks the rows or the last success:\n%s", prom)
	}
	if got := statuses(t, f.get(t, "out/report.csv")); got["succeeded/"] != n {
		t.Errorf("report statuses %v, want %d succeeded", got, n)
	}
	var sum struct{ Rows int }
	if err := json.Unmarshal(f.get(t, "out/summary.json"), &sum); err != nil || sum.Rows != n {
		t.Errorf("summary rows %d (%v), want %d", sum.Rows, err, n)
	}
	for user, c := range f.calls() {
		if c != 1 {
			t.Errorf("%s had %d calls, want 1", user, c)
		}
	}
	if k := f.keys(t, "out/report.csv.parts/"); len(k) != 0 {
		t.Errorf("checkpoint parts left after the run: %v", k)
	}
	for _, key := range []string{"out/report.csv", "out/summary.json"} {
		head, err := f.s3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(f.bucket), Key: aws.String(key)})
		if err != nil || head.ServerSideEncryption != types.ServerSideEncryptionAes256 {
			t.Errorf("%s: encryption %q (%v), want AES256", key, head.ServerSideEncryption, err)
		}
	}

	before := len(f.cognito.Calls())
	res = f.run(t, env, "--rps", "0", "--resume", "s3://round-trip/out/report.csv", "--report", "s3://round-trip/out/again.csv", "s3://round-trip/in/users.csv")
	if res.exit != 0 || len(f.cognito.Calls()) != before {
		t.Fatalf("resume: exit %d, %d calls, want 0 and no call\n%s", res.exit, len(f.cognito.Calls())-before, res.stderr)
	}
	if got := statuses(t, f.get(t, "out/again.csv")); got["skipped/AlreadySucceeded"] != n {
		t.Errorf("resumed report statuses %v, want %d skipped/AlreadySucceeded", got, n)
	}

	// A run that fails keeps the last success in the metrics object.
	res = f.run(t, env, "--rps", "0", "--region", "eu-west-3", "--report", "s3://round-trip/out/mismatch.csv",
		"--metrics-file", "s3://round-trip/out/mfabatch.prom", "s3://round-trip/in/users.csv")
	after := string(f.get(t, "out/mfabatch.prom"))
	if res.exit != 1 || !strings.Contains(after, `mfabatch_rows_total{status="invalid"} 25`) || lastSuccessLine(after) != lastSuccessLine(prom) || lastSuccessLine(prom) == "" {
		t.Errorf("exit %d; the failed run's metrics object:\n%s\nthe first:\n%s", res.exit, after, prom)
	}

	res = f.run(t, env, "--dry-run", "--sse-kms-key-id", "alias/mfabatch-test", "--report", "s3://round-trip/out/dry.csv", "s3://round-trip/in/users.csv")
	head, err := f.s3.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(f.bucket), Key: aws.String("out/dry.csv")})
	if res.exit != 0 || err != nil || head.ServerSideEncryption != types.ServerSideEncryptionAwsKms || !strings.Contains(aws.ToString(head.SSEKMSKeyId), "mfabatch-test") {
		t.Errorf("--sse-kms-key-id: exit %d, encryption %q key %q (%v)\n%s", res.exit, head.ServerSideEncryption, aws.ToString(head.SSEKMSKeyId), err, res.stderr)
	}
}

// lastSuccessLine is the metrics' last-success line, "" for none.
func lastSuccessLine(prom string) string {
	for line := range strings.Lines(prom) {
		if strings.HasPrefix(line, "mfabatch_last_success_timestamp_seconds ") {
			return line
		}
	}
	return ""
}

// testS3KillResume kills a run with kill -9 once it has checkpointed its
// report, and resumes from the report in S3: only the rows of the last
// checkpoint interval are sent twice.
func testS3KillResume(t *testing.T, f *s3Fixture) {
	const n, rps, interval = 150, 10, 1 // rows, --rps, seconds between parts
	f.manifest(t, "in/users.csv", "user", n)
	bin, err := f.tl.build()
	if err != nil {
		t.Fatal(err)
	}
	env := f.env(fmt.Sprintf("MFABATCH_S3_CHECKPOINT_INTERVAL=%ds", interval))
	report := "s3://kill-resume/out/report.csv"
	cmd := exec.Command(bin, "run", "--endpoint-url", f.cognito.URL, "--rps", fmt.Sprint(rps), "--report", report, "s3://kill-resume/in/users.csv")
	cmd.Env = append(toolEnv(t), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Killed once a third of the rows are sent and parts beyond the first
	// (written before the first call) hold some of them.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for len(f.cognito.Calls()) < n/3 || len(f.keys(t, "out/report.csv.parts/")) < 3 {
		select {
		case <-ctx.Done():
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no checkpoint parts after %d calls\n%s", len(f.cognito.Calls()), stderr.Bytes())
		case <-time.After(50 * time.Millisecond):
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	sent := len(f.cognito.Calls())
	f.noLeak(t, stderr.Bytes())

	res := f.run(t, f.env(), "--rps", "0", "--resume", report, "--report", report, "s3://kill-resume/in/users.csv")
	if res.exit != 0 {
		t.Fatalf("resume: exit %d\n%s", res.exit, res.stderr)
	}
	twice := 0
	calls := f.calls()
	for i := 1; i <= n; i++ {
		user := fmt.Sprintf("user%03d", i)
		switch c := calls[user]; {
		case c == 2:
			twice++
		case c != 1:
			t.Errorf("%s had %d calls, want 1 or 2", user, c)
		}
	}
	t.Logf("%d rows sent before the kill, %d of them sent again", sent, twice)
	// The rows of the last interval, those the last flush had not yet
	// written, and the calls in flight; a slow machine gets a second more.
	if limit := rps * (interval + 2); twice > limit || twice >= sent {
		t.Errorf("%d rows sent twice, of %d sent before the kill; want at most %d", twice, sent, limit)
	}
	got := statuses(t, f.get(t, "out/report.csv"))
	if got["succeeded/"]+got["skipped/AlreadySucceeded"] != n || got["skipped/AlreadySucceeded"] == 0 {
		t.Errorf("resumed report statuses %v, want %d succeeded or skipped/AlreadySucceeded", got, n)
	}
	if k := f.keys(t, "out/report.csv.parts/"); len(k) != 0 {
		t.Errorf("checkpoint parts left after the resumed run: %v", k)
	}
}
