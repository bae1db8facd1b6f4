package main_test

// End to end against the real Prometheus Pushgateway (Debian's
// prometheus-pushgateway): the built mfabatch pushes, the test scrapes
// the gateway as Prometheus would and checks the series it keeps.

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

const gatewayReadyWait = 30 * time.Second

// TestE2EPushgateway: a run's push lands in the group job="mfabatch" (and
// shard="I_N" for a shard); the last success is set by a run that exits
// 0, and a later failed run, pushed with push-add, leaves it as it was.
func TestE2EPushgateway(t *testing.T) {
	gateway := startPushgateway(t)
	var bad sync.Map // the tokens of bad- users, refused
	cognito := cognitotest.NewServer(func(c cognitotest.Call) cognitotest.Reply {
		if _, ok := bad.Load(c.Token); ok {
			return cognitotest.Reply{Fault: cognitotest.APIError}
		}
		return cognitotest.Reply{}
	})
	defer cognito.Close()
	tl := newTool(t)
	dir := t.TempDir()
	run := func(users []string, args ...string) int {
		t.Helper()
		manifest := writeUsers(t, dir, users, &bad)
		args = append([]string{"run", "--endpoint-url", cognito.URL, "--rps", "0", "--progress", "off",
			"--report", filepath.Join(dir, "report.csv"), "--metrics-push", gateway}, args...)
		res := tl.run(t, append(args, manifest)...)
		if strings.Contains(string(res.stderr), "warning") {
			t.Errorf("mfabatch warned:\n%s", res.stderr)
		}
		return res.exit
	}

	before := float64(time.Now().Unix())
	if code := run([]string{"ok-1", "ok-2", "ok-3"}); code != 0 {
		t.Fatalf("first run exited %d, want 0", code)
	}
	if code := run([]string{"ok-1", "ok-2", "bad-3", "ok-4"}, "--shard", "0/2"); code != 1 {
		t.Fatalf("shard run exited %d, want 1", code)
	}
	mfs := scrape(t, gateway)
	whole, shard := map[string]string{"job": "mfabatch"}, map[string]string{"job": "mfabatch", "shard": "0_2"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"mfabatch_rows_total", with(whole, "status", "succeeded"), 3},
		{"mfabatch_rows_total", with(whole, "status", "failed"), 0},
		{"mfabatch_calls_total", with(whole, "op", "write"), 3},
		{"mfabatch_call_duration_seconds", whole, 3},
		{"mfabatch_rows_total", with(shard, "status", "succeeded"), 1},
		{"mfabatch_rows_total", with(shard, "status", "failed"), 1},
		{"mfabatch_calls_total", with(shard, "op", "write"), 2},
	} {
		if got, ok := find(mfs[c.name], c.labels); !ok || got != c.want {
			t.Errorf("%s%v: %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	last, ok := find(mfs["mfabatch_last_success_timestamp_seconds"], whole)
	if !ok || last < before || last > float64(time.Now().Unix())+1 {
		t.Fatalf("the last success is %v (found %v), want the first run's time", last, ok)
	}
	if v, ok := find(mfs["mfabatch_last_success_timestamp_seconds"], shard); ok {
		t.Errorf("the failed shard has a last success, %v", v)
	}

	// A failed run replaces the group's counts, not its last success.
	if code := run([]string{"ok-1", "bad-2"}); code != 1 {
		t.Fatalf("failed run exited %d, want 1", code)
	}
	mfs = scrape(t, gateway)
	if got, _ := find(mfs["mfabatch_rows_total"], with(whole, "status", "failed")); got != 1 {
		t.Errorf("after the failed run, rows failed is %v, want 1", got)
	}
	if got, _ := find(mfs["mfabatch_last_success_timestamp_seconds"], whole); got != last {
		t.Errorf("after the failed run, the last success is %v, want %v as before", got, last)
	}
}

// startPushgateway starts the Pushgateway on a free loopback port and
// returns its URL; it is stopped when the test ends.
func startPushgateway(t *testing.T) string {
	t.Helper()
	bin := requirePushgateway(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	d := startDaemon(t, "the Pushgateway", bin, "--web.listen-address="+addr)
	url := "http://" + addr
	d.waitReady(t, url+"/-/ready", gatewayReadyWait, func(status int) bool { return status == http.StatusOK })
	return url
}

// requirePushgateway returns the Pushgateway's path, or skips the test
// without it (fails it when MFABATCH_E2E=1, as CI sets).
func requirePushgateway(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"prometheus-pushgateway", "pushgateway"} {
		if bin, err := exec.LookPath(name); err == nil {
			return bin
		}
	}
	msg := "e2e test needs the Prometheus Pushgateway on PATH (apt-get install prometheus-pushgateway); " +
		"set MFABATCH_E2E=1 to make its absence a failure"
	if os.Getenv("MFABATCH_E2E") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// writeUsers writes a manifest of users, each turning SMS on, and
// stores the tokens of bad- users in bad.
func writeUsers(t *testing.T, dir string, users []string, bad *sync.Map) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,access_token,sms_enabled\n")
	for _, u := range users {
		tok := cognitotest.Token(cognitotest.Claims{Username: u})
		if strings.HasPrefix(u, "bad-") {
			bad.Store(tok, true)
		}
		fmt.Fprintf(&b, "%s,%s,true\n", u, tok)
	}
	path := filepath.Join(dir, "manifest.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// scrape reads the gateway's /metrics as Prometheus would.
func scrape(t *testing.T, gateway string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(gateway + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("the gateway's metrics do not parse: %v", err)
	}
	return mfs
}

// with is labels and one more.
func with(labels map[string]string, k, v string) map[string]string {
	l := map[string]string{k: v}
	for k, v := range labels {
		l[k] = v
	}
	return l
}

// find is the value of the series of mf whose labels, "instance" and
// "le" aside, are exactly labels: a counter's or gauge's value, a
// histogram's count.
func find(mf *dto.MetricFamily, labels map[string]string) (float64, bool) {
	for _, m := range mf.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			if l.GetName() != "instance" {
				got[l.GetName()] = l.GetValue()
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}
