package main

// --metrics-file and --metrics-push, run in process against the fake
// Cognito (answering as the scripts' decide does) and a fake Pushgateway
// that records every push.

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// pushed is one request the fake gateway got.
type pushed struct {
	method, path, query, auth, contentType string
	body                                   string
}

// fakeGateway is a Pushgateway that records each push and answers with
// status, quoting the request's query and credentials back, as a careless
// server might.
type fakeGateway struct {
	srv    *httptest.Server
	status int

	mu     sync.Mutex
	pushes []pushed
}

func newFakeGateway(t *testing.T, status int) *fakeGateway {
	g := &fakeGateway{status: status}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		p := pushed{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), string(body)}
		g.mu.Lock()
		g.pushes = append(g.pushes, p)
		g.mu.Unlock()
		if g.status/100 == 3 {
			w.Header().Set("Location", "/moved")
		}
		w.WriteHeader(g.status)
		fmt.Fprintf(w, "refused %s %s", p.query, p.auth)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGateway) got() []pushed {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]pushed(nil), g.pushes...)
}

// metricsRun is a run of the tool in process over a manifest of users,
// named as the scripts name them (ok-, badparam-, slow-, ...).
type metricsRun struct {
	dir, report string
	tokens      []string
	code        int
	stderr      string
	calls       int
}

// runUsers runs mfabatch over users, with args before the manifest, and
// no AWS configuration of any kind.
func runUsers(t *testing.T, users []string, args ...string) *metricsRun {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(strings.ToUpper(k), "AWS_") || strings.HasSuffix(strings.ToUpper(k), "_PROXY") {
			t.Setenv(k, "")
		}
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	srv := cognitotest.NewServer(decide)
	defer srv.Close()
	r := &metricsRun{dir: dir, report: filepath.Join(dir, "report.csv")}
	var b strings.Builder
	b.WriteString("id,access_token,sms_enabled\n")
	for _, u := range users {
		tok := cognitotest.Token(cognitotest.Claims{Username: u})
		r.tokens = append(r.tokens, tok)
		fmt.Fprintf(&b, "%s,%s,true\n", u, tok)
	}
	manifest := filepath.Join(dir, "manifest.csv")
	if err := os.WriteFile(manifest, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"run", "--endpoint-url", srv.URL, "--rps", "0", "--max-attempts", "2",
		"--progress", "off", "--report", r.report}, args...)
	var stdout, stderr strings.Builder
	r.code = cli(context.Background(), append(args, manifest), strings.NewReader(""), &stdout, &stderr)
	r.stderr, r.calls = stderr.String(), len(srv.Calls())
	return r
}

// statuses counts the report's rows by status.
func (r *metricsRun) statuses(t *testing.T) map[string]float64 {
	t.Helper()
	b, err := os.ReadFile(r.report)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := readReport(string(b))
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]float64{}
	for _, row := range rows {
		n[row["status"]]++
	}
	return n
}

// checkNoSecret fails if text holds any 16 characters of the run's tokens
// or any of secrets.
func (r *metricsRun) checkNoSecret(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, tok := range r.tokens {
		for i := 0; i+16 <= len(tok); i++ {
			if strings.Contains(text, tok[i:i+16]) {
				t.Fatalf("%s holds a piece of a token", what)
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s holds the secret %q:\n%s", what, s, text)
		}
	}
}

// families parses the text exposition format.
func families(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("metrics do not parse: %v\n%s", err, text)
	}
	return mfs
}

// byLabel is a family's values by the value of one label.
func byLabel(mf *dto.MetricFamily, label string) map[string]float64 {
	v := map[string]float64{}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				v[l.GetValue()] = value(m)
			}
		}
	}
	return v
}

// value is a counter's or a gauge's value, or a histogram's count.
func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return -1
}

// checkCounts checks the series against the run: rows by status as the
// report has them, calls as the server counted them.
func checkCounts(t *testing.T, r *metricsRun, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	want := r.statuses(t)
	for _, s := range batch.Statuses {
		if got := byLabel(mfs["mfabatch_rows_total"], "status"); got[string(s)] != want[string(s)] {
			t.Errorf("mfabatch_rows_total{status=%q} is %v, the report has %v", s, got[string(s)], want[string(s)])
		}
	}
	if got := byLabel(mfs["mfabatch_calls_total"], "op")["write"]; got != float64(r.calls) {
		t.Errorf("mfabatch_calls_total{op=\"write\"} is %v, the server got %d calls", got, r.calls)
	}
	if got := value(mfs["mfabatch_call_duration_seconds"].GetMetric()[0]); got != float64(r.calls) {
		t.Errorf("mfabatch_call_duration_seconds has %v calls, the server got %d", got, r.calls)
	}
	if mfs["mfabatch_call_duration_seconds"].GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("mfabatch_call_duration_seconds is a %v, want a histogram", mfs["mfabatch_call_duration_seconds"].GetType())
	}
}

func TestMetricsFileCountsAreTheReports(t *testing.T) {
	users := []string{"ok-a", "throttle1-b", "badparam-c", "expired-d", "ok-e"}
	path := filepath.Join(t.TempDir(), "mfabatch.prom")
	r := runUsers(t, users, "--metrics-file", path)
	if r.code != exitRows {
		t.Fatalf("exit %d, want 1 (two rows fail):\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mfs := families(t, string(b))
	checkCounts(t, r, mfs)
	if got := value(mfs["mfabatch_throttled_calls_total"].GetMetric()[0]); got != 1 {
		t.Errorf("mfabatch_throttled_calls_total is %v, want 1", got)
	}
	if got := value(mfs["mfabatch_retries_total"].GetMetric()[0]); got != 1 {
		t.Errorf("mfabatch_retries_total is %v, want 1", got)
	}
	if mfs[lastSuccessName] != nil {
		t.Errorf("a run that exits 1 sets %s", lastSuccessName)
	}
	r.checkNoSecret(t, "the metrics file", string(b))
}

// Each write renames a new file over the old one: a reader that has the
// old file open (a hard link stands for it) keeps reading it whole, and
// nothing is left beside it.
func TestMetricsFileIsReplacedByRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mfabatch.prom")
	old := "# an earlier run's metrics\n"
	if err := os.WriteFile(path, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	reader := filepath.Join(dir, "reader")
	if err := os.Link(path, reader); err != nil {
		t.Fatal(err)
	}
	m := newMetrics(&runFlags{metricsFile: path}, io.Discard)
	if err := m.open(context.Background(), &storage{}, batch.Shard{}); err != nil {
		t.Fatal(err)
	}
	m.rows.WithLabelValues(string(batch.StatusSucceeded)).Add(2)
	m.write(context.Background())
	if b, _ := os.ReadFile(reader); string(b) != old {
		t.Errorf("the old file was written over in place: %q", b)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := byLabel(families(t, string(b))["mfabatch_rows_total"], "status")["succeeded"]; got != 2 {
		t.Errorf("the new file has %v rows succeeded, want 2:\n%s", got, b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("the folder holds %d files, want the metrics and the reader's link: %v", len(entries), entries)
	}
}

// The gateway gets a push-add (POST) of the series at every interval and
// at the end, to /metrics/job/mfabatch (and /shard/I_N when sharded),
// with the URL's user and password as basic auth and its query; the
// series' counts are the report's. Neither the credentials nor what the
// gateway says are ever shown.
func TestMetricsPush(t *testing.T) {
	for _, tc := range []struct {
		name      string
		users     []string
		args      []string
		path      string
		wantCode  int
		succeeded bool
	}{
		{"ok", []string{"ok-a", "throttle1-b", "ok-c"}, nil, "/metrics/job/mfabatch", exitOK, true},
		{"failed", []string{"ok-a", "badparam-b"}, nil, "/metrics/job/mfabatch", exitRows, false},
		{"shard", []string{"ok-a", "ok-b", "badparam-c", "ok-d"}, []string{"--shard", "1/2"}, "/metrics/job/mfabatch/shard/1_2", exitOK, true},
		{"dry run", []string{"ok-a"}, []string{"--dry-run"}, "/metrics/job/mfabatch", exitOK, false},
		// Rows of half a second each, one at a time: pushes while the run goes.
		{"interval", []string{"slow-a", "slow-b", "slow-c"}, []string{"--workers", "1", "--progress-interval", "100ms"}, "/metrics/job/mfabatch", exitOK, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGateway(t, http.StatusOK)
			u := strings.Replace(g.srv.URL, "http://", "http://pusher:s3cret-pw@", 1) + "/?token=s3cret-token"
			r := runUsers(t, tc.users, append(tc.args, "--metrics-push", u)...)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d:\n%s", r.code, tc.wantCode, r.stderr)
			}
			pushes := g.got()
			if len(pushes) == 0 || tc.name == "interval" && len(pushes) < 3 {
				t.Fatalf("%d pushes, want one at the end (and, for slow rows, some before)", len(pushes))
			}
			wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte("pusher:s3cret-pw"))
			for i, p := range pushes {
				if p.method != http.MethodPost || p.path != tc.path || p.query != "token=s3cret-token" || p.auth != wantAuth || !strings.HasPrefix(p.contentType, "text/plain") {
					t.Errorf("push %d: %s %s?%s auth %q type %q; want POST %s?token=... with basic auth, as text", i, p.method, p.path, p.query, p.auth, p.contentType, tc.path)
				}
				r.checkNoSecret(t, "a push", p.body)
				if strings.Contains(p.body, "shard=") || strings.Contains(p.body, "job=") {
					t.Errorf("push %d: the series carry the grouping labels, which the gateway adds:\n%s", i, p.body)
				}
			}
			last := families(t, pushes[len(pushes)-1].body)
			checkCounts(t, r, last)
			if got := last[lastSuccessName] != nil; got != tc.succeeded {
				t.Errorf("%s pushed: %v, want %v", lastSuccessName, got, tc.succeeded)
			}
			for _, p := range pushes[:len(pushes)-1] {
				if strings.Contains(p.body, lastSuccessName) {
					t.Errorf("a push during the run has %s", lastSuccessName)
				}
			}
			r.checkNoSecret(t, "stderr", r.stderr, "s3cret")
		})
	}
}

// A gateway that refuses the push, or is not there, is a warning, once
// for each kind of fault, and the run exits as it would without it. The
// message names the gateway without its credentials, and does not quote
// its answer.
func TestMetricsPushFailureIsAWarning(t *testing.T) {
	refused := "http://127.0.0.1:" + closedPort(t)
	for _, tc := range []struct {
		name, url, want string
	}{
		{"500", newFakeGateway(t, http.StatusInternalServerError).srv.URL, "the gateway answered HTTP 500"},
		{"redirect", newFakeGateway(t, http.StatusTemporaryRedirect).srv.URL, "the gateway answered HTTP 307"},
		{"refused", refused, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := strings.Replace(tc.url, "http://", "http://pusher:s3cret-pw@", 1) + "/?token=s3cret-token"
			r := runUsers(t, []string{"slow-a", "slow-b", "ok-c"}, "--workers", "1", "--progress-interval", "100ms", "--metrics-push", u)
			if r.code != exitOK {
				t.Fatalf("exit %d, want 0: a push that fails does not fail the run:\n%s", r.code, r.stderr)
			}
			want := fmt.Sprintf("mfabatch: warning: --metrics-push %s: cannot push the metrics: %s; the run goes on\n", tc.url, tc.want)
			if n := strings.Count(r.stderr, want); n != 1 || strings.Count(r.stderr, "warning") != 1 {
				t.Errorf("stderr has the warning %d times, want once, and no other:\n%s", n, r.stderr)
			}
			r.checkNoSecret(t, "stderr", r.stderr, "s3cret", "refused ")
		})
	}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}

// A gateway that could see credentials in the clear, or a URL that is
// none, stops the run before any call (exit 2), without quoting the URL's
// credentials.
func TestMetricsPushURLIsChecked(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"http://pusher:s3cret-pw@gateway.example:9091/?token=s3cret-token", "mfabatch: error: --metrics-push http://gateway.example:9091: want https, or plain http to localhost or a loopback address\n"},
		{"ftp://gateway.example/?token=s3cret-token", "mfabatch: error: --metrics-push ftp://gateway.example: want https, "},
		{"gateway:9091?token=s3cret-token", "mfabatch: error: --metrics-push: not a URL like https://HOST:9091 or http://127.0.0.1:9091\n"},
		{"http://[::1:9091/s3cret-token", "mfabatch: error: --metrics-push: not a URL like "},
	} {
		r := runUsers(t, []string{"ok-a"}, "--metrics-push", tc.url)
		if r.code != exitNotSent || r.calls != 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("--metrics-push %s: exit %d after %d calls, want 2 before any, saying %q:\n%s", tc.url, r.code, r.calls, tc.want, r.stderr)
		}
		r.checkNoSecret(t, "stderr", r.stderr, "s3cret")
	}
}
