package main

// --metrics-file and --metrics-push: a run's counts for Prometheus, as a
// batch job gives them. node_exporter's textfile collector reads the
// file; a Pushgateway keeps what is pushed to it. Both are written at
// every --progress-interval and at the end, and neither ever fails the
// run: what goes wrong is a warning, once for each kind of fault.

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

const (
	metricsJob = "mfabatch" // the Pushgateway's job label
	// pushTimeout bounds one push: a gateway that hangs delays the end of
	// a run by this at most.
	pushTimeout = 10 * time.Second
	// maxOldMetrics is as much of an earlier metrics file as is read for
	// its last success.
	maxOldMetrics   = 1 << 20
	lastSuccessName = "mfabatch_last_success_timestamp_seconds"
)

// metrics are a run's Prometheus series and where they go. Results come
// from the engine's one result goroutine and calls from its workers; the
// series take both at once.
type metrics struct {
	rows      *prometheus.CounterVec
	calls     *prometheus.CounterVec
	throttled prometheus.Counter
	retries   prometheus.Counter
	limit     *prometheus.GaugeVec
	duration  prometheus.Histogram

	file, push string // the flags as given
	dryRun     bool
	out        io.Writer // warnings

	// Set by open.
	path     string   // the file written, its links followed
	st       *storage // for an s3:// file
	filed    prometheus.Gatherer
	fileLast *lastSuccess // in the file: carried over from the file there
	pusher   *push.Pusher // nil without --metrics-push
	gateway  string       // --metrics-push as messages show it: no credentials
	pushLast *lastSuccess // pushed only when set: a failed run's push keeps the gateway's

	mu     sync.Mutex // one write at a time; guards warned
	warned map[string]bool

	cancel context.CancelFunc // ends the writes every interval
	wg     sync.WaitGroup
}

// newMetrics makes the series --metrics-file and --metrics-push ask for;
// nil for neither. open checks where they go.
func newMetrics(f *runFlags, stderr io.Writer) *metrics {
	if f.metricsFile == "" && f.metricsPush == "" {
		return nil
	}
	m := &metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mfabatch_rows_total",
			Help: "Manifest rows finished, by their status in the report."}, []string{"status"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mfabatch_calls_total",
			Help: "Calls made to Cognito, retries included, by op: write, read or list."}, []string{"op"}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{Name: "mfabatch_throttled_calls_total",
			Help: "Calls Cognito refused for rate (TooManyRequestsException)."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "mfabatch_retries_total",
			Help: "Calls that were a row's second or later attempt."}),
		limit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "mfabatch_rate_limit",
			Help: "The rate calls may leave at now, per region, in requests per second; absent when unlimited."}, []string{"region"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mfabatch_call_duration_seconds",
			Help: "Time from sending a call to its answer or error.", Buckets: prometheus.DefBuckets}),
		file: f.metricsFile, push: f.metricsPush, dryRun: f.dryRun || f.plan, out: stderr, warned: map[string]bool{},
	}
	// Every status and op is there from the start, at 0.
	for _, s := range batch.Statuses {
		m.rows.WithLabelValues(string(s))
	}
	m.calls.WithLabelValues(batch.OpWrite)
	if f.plan || f.skipUnchanged || f.verify {
		m.calls.WithLabelValues(batch.OpRead)
	}
	return m
}

// collectors are the series every write has.
func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.rows, m.calls, m.throttled, m.retries, m.limit, m.duration}
}

// open checks, before the first call, where the metrics go: a folder
// that cannot take the file, or a gateway that could see credentials in
// the clear, stops the run (exit 2). A sharded run's file names its
// shard, as the gateway's grouping does.
func (m *metrics) open(ctx context.Context, st *storage, shard batch.Shard) error {
	var labels prometheus.Labels
	if shard.Count > 1 {
		labels = prometheus.Labels{"shard": shardLabel(shard)}
	}
	return m.openLabeled(ctx, st, labels)
}

// openLabeled is open, the series and the gateway's group labeled so.
func (m *metrics) openLabeled(ctx context.Context, st *storage, labels prometheus.Labels) error {
	if m == nil {
		return nil
	}
	if isS3(m.file) {
		if err := m.openS3(ctx, st, labels); err != nil {
			return err
		}
	} else if m.file != "" {
		if err := m.openFile(labels); err != nil {
			return err
		}
	}
	if m.push != "" {
		return m.openPush(labels)
	}
	return nil
}

// shardLabel is a shard as a label value: "0_4" for 0/4, since a value
// with a slash would be base64 in the gateway's path.
func shardLabel(s batch.Shard) string { return strconv.Itoa(s.Index) + "_" + strconv.Itoa(s.Count) }

// watch feeds the metrics from cfg's results and calls; warnings go to
// stderr from now on.
func (m *metrics) watch(cfg *batch.Config, stderr io.Writer) {
	if m == nil {
		return
	}
	m.out = stderr
	onResult := cfg.OnResult
	cfg.OnResult = func(r batch.Result) {
		if onResult != nil {
			onResult(r)
		}
		m.rows.WithLabelValues(string(r.Status)).Inc()
	}
	cfg.OnCall = m.call
}

// call counts one call.
func (m *metrics) call(c batch.CallStat) {
	m.calls.WithLabelValues(c.Op).Inc()
	if c.Throttled {
		m.throttled.Inc()
	}
	if c.Retry {
		m.retries.Inc()
	}
	m.duration.Observe(c.Duration.Seconds())
	if c.Limit > 0 && c.Op == batch.OpWrite { // the write quota's rate: the one --rps sets
		m.limit.WithLabelValues(c.Region).Set(c.Limit)
	}
}

// start writes the metrics every interval until halt.
func (m *metrics) start(every time.Duration) {
	if m == nil || m.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.write(ctx)
			}
		}
	})
}

// halt ends the writes every interval; a push under way is dropped, as
// finish pushes again.
func (m *metrics) halt() {
	if m == nil || m.cancel == nil {
		return
	}
	m.cancel()
	m.wg.Wait()
	m.cancel = nil
}

// finish writes the metrics of a run that got as far as its rows (sum
// not nil) once more, with the time of this success when a live run
// exits 0. A run that stopped before leaves the last run's metrics.
func (m *metrics) finish(sum *batch.Summary, code int) {
	if m == nil {
		return
	}
	m.halt()
	if sum == nil {
		return
	}
	if code == exitOK && !m.dryRun {
		m.succeeded(float64(time.Now().UnixNano()) / 1e9)
	}
	m.write(context.Background())
}

// succeeded sets the time of the last success, at.
func (m *metrics) succeeded(at float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range []*lastSuccess{m.fileLast, m.pushLast} {
		if l != nil {
			l.at = at
		}
	}
}

// write puts the metrics in the file and pushes them, each as far as it
// goes.
func (m *metrics) write(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.filed != nil {
		if err := m.writeFile(ctx); err != nil {
			m.warn("--metrics-file "+m.file, "cannot write the metrics: "+fileProblem(err))
		}
	}
	if m.pusher != nil {
		ctx, cancel := context.WithTimeout(ctx, pushTimeout)
		defer cancel()
		if err := m.pusher.AddContext(ctx); err != nil {
			if problem := pushProblem(err); problem != "" {
				m.warn("--metrics-push "+m.gateway, "cannot push the metrics: "+problem)
			}
		}
	}
}

// warn says what went wrong, once for each kind. m.mu is held.
func (m *metrics) warn(what, problem string) {
	if m.warned[what+problem] {
		return
	}
	m.warned[what+problem] = true
	fmt.Fprintf(m.out, "mfabatch: warning: %s: %s; the run goes on\n", what, problem)
}

// lastSuccess is mfabatch_last_success_timestamp_seconds: absent until
// at is set, so that a failed run neither sets it nor clears it.
type lastSuccess struct{ at float64 }

var lastSuccessDesc = prometheus.NewDesc(lastSuccessName, "When a run last exited 0, in seconds since the Unix epoch.", nil, nil)

func (l *lastSuccess) Describe(ch chan<- *prometheus.Desc) { ch <- lastSuccessDesc }

func (l *lastSuccess) Collect(ch chan<- prometheus.Metric) {
	if l.at > 0 {
		ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, l.at)
	}
}
