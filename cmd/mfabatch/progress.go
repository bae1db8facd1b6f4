package main

// --progress and --progress-interval: how far a run has got, on standard
// error, never on standard output (where the report may go). At a terminal
// a live bar; elsewhere a line every --progress-interval.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progressMode is --progress.
type progressMode string

// The --progress values. auto is bar when standard error is a terminal
// (and the report does not go to the same one), log otherwise.
const (
	progressAuto progressMode = "auto"
	progressBar  progressMode = "bar"
	progressLog  progressMode = "log"
	progressOff  progressMode = "off"
)

// progressFlag is --progress: auto, bar, log or off.
type progressFlag struct{ m *progressMode }

func (v progressFlag) String() string {
	if v.m == nil {
		return ""
	}
	return string(*v.m)
}

func (v progressFlag) Set(s string) error {
	switch m := progressMode(s); m {
	case progressAuto, progressBar, progressLog, progressOff:
		*v.m = m
		return nil
	}
	return errors.New("want auto, bar, log or off")
}

const (
	barRefresh = 200 * time.Millisecond // how often the bar is drawn
	barWindow  = 5 * time.Second        // the span the bar's rate is measured over
	// maxETA is the longest ETA shown: past it the rate is too low to say.
	maxETA = 100 * time.Hour
)

// progress shows how far a run has got. Add counts each row's result, from
// the runner's one result goroutine; the display reads the counts from its
// own goroutine, between Start and Stop.
type progress struct {
	mode     progressMode // bar, log or off: never auto
	out      io.Writer    // standard error
	interval time.Duration
	total    int64        // rows the run will report, an estimate; 0 when unknown
	log      *slog.Logger // log mode with --log-format json; nil for text lines

	succeeded, failed, other atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup

	// mu serialises the meter and, in bar mode, the bar and the log lines
	// written around it (see Stderr).
	mu       sync.Mutex
	meter    meter
	bar      *progressbar.ProgressBar // made by draw
	barMax   int64                    // the total bar was made for
	barWidth int                      // the width bar was made with
	textMax  int                      // the longest text drawn beside it
	closed   bool                     // the bar is cleared for good
}

// newProgress makes the display --progress asks for. The total is counted
// from the manifest file now, before the run; standard input has none.
func newProgress(f *runFlags, path string, m batch.Manifest, shard batch.Shard, stdout, stderr io.Writer) *progress {
	p := &progress{
		mode:     chooseProgress(f.progress, isTerminal(stderr), f.reportPath == "-" && isTerminal(stdout), os.Getenv("TERM")),
		out:      stderr,
		interval: f.progressInterval,
	}
	if p.mode == progressOff {
		return p
	}
	if path != "-" {
		p.total = countRows(path, m, shard)
	}
	if p.mode == progressLog && f.logFormat == "json" {
		p.log = slog.New(slog.NewJSONHandler(stderr, nil))
	}
	return p
}

// chooseProgress resolves auto: a bar on a terminal that can draw one,
// unless the report is printed to the same screen (its rows would break
// the bar's line), else log lines.
func chooseProgress(m progressMode, stderrTTY, reportTTY bool, termName string) progressMode {
	if m != progressAuto {
		return m
	}
	if stderrTTY && !reportTTY && termName != "dumb" {
		return progressBar
	}
	return progressLog
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}

// Add counts a finished row. It is Config.OnResult.
func (p *progress) Add(r batch.Result) {
	switch r.Status {
	case batch.StatusSucceeded:
		p.succeeded.Add(1)
	case batch.StatusFailed:
		p.failed.Add(1)
	default:
		p.other.Add(1)
	}
}

// Start shows progress until Stop: the bar at once, log lines from one
// interval on.
func (p *progress) Start() {
	if p.mode == progressOff || p.stop != nil {
		return
	}
	now := time.Now()
	every := p.interval
	p.mu.Lock()
	p.meter = meter{samples: []sample{{now, 0}}}
	if p.mode == progressBar {
		every, p.meter.window = barRefresh, barWindow
		p.draw(now)
	}
	p.mu.Unlock()
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go p.loop(every)
}

func (p *progress) loop(every time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			// A tick and Stop at once: Stop wins, no line after the run.
			select {
			case <-p.stop:
				return
			default:
			}
			p.mu.Lock()
			if p.mode == progressBar {
				p.draw(now)
			} else {
				p.logLine(now)
			}
			p.mu.Unlock()
		}
	}
}

// Stop ends the display before the summary is printed: no log line comes
// after it, and the bar is cleared from its line.
func (p *progress) Stop() {
	if p.stop == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.stop = nil
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil && !p.closed {
		p.closed = true
		_ = p.bar.Clear()
	}
}

// Stderr is where the run's log goes: standard error, through the bar in
// bar mode, so that a log line clears the bar and the bar is drawn again
// below it instead of the two sharing a line.
func (p *progress) Stderr() io.Writer {
	if p.mode != progressBar {
		return p.out
	}
	return barWriter{p}
}

type barWriter struct{ p *progress }

func (w barWriter) Write(b []byte) (int, error) {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil || p.closed {
		return p.out.Write(b)
	}
	_ = p.bar.Clear()
	n, err := p.out.Write(b)
	p.draw(time.Now())
	return n, err
}

// figures are a run's progress at one moment.
type figures struct {
	done, total              int64 // total 0: unknown
	succeeded, failed, other int64
	rate                     float64 // rows per second, lately
}

// figures reads the counts and measures the rate. p.mu is held.
func (p *progress) figures(now time.Time) figures {
	f := figures{succeeded: p.succeeded.Load(), failed: p.failed.Load(), other: p.other.Load(), total: p.total}
	f.done = f.succeeded + f.failed + f.other
	if f.total > 0 && f.done > f.total {
		f.total = f.done // the estimate was short: the file changed
	}
	f.rate = p.meter.rate(now, f.done)
	return f
}

// eta is the time left at the current rate, in whole seconds rounded up;
// false when it cannot be told.
func (f figures) eta() (time.Duration, bool) {
	if f.total == 0 || f.rate <= 0 {
		return 0, false
	}
	left := float64(f.total-f.done) / f.rate
	if left > maxETA.Seconds() {
		return 0, false
	}
	return time.Duration(math.Ceil(left)) * time.Second, true
}

// text is a log line's figures: "1200/5000 rows (24%), succeeded 1180,
// failed 12, other 8, 19.8 rows/s, eta 3m12s".
func (f figures) text() string {
	var b strings.Builder
	if f.total > 0 {
		fmt.Fprintf(&b, "%d/%d rows (%d%%)", f.done, f.total, f.done*100/f.total)
	} else {
		fmt.Fprintf(&b, "%d rows", f.done)
	}
	fmt.Fprintf(&b, ", succeeded %d, failed %d, other %d, %.1f rows/s", f.succeeded, f.failed, f.other, f.rate)
	if f.total > 0 {
		if eta, ok := f.eta(); ok {
			fmt.Fprintf(&b, ", eta %v", eta)
		} else {
			b.WriteString(", eta unknown")
		}
	}
	return b.String()
}

// barText is the same, shorter, beside the bar (which shows the percentage).
func (f figures) barText() string {
	var b strings.Builder
	if f.total > 0 {
		fmt.Fprintf(&b, "%d/%d rows", f.done, f.total)
	} else {
		fmt.Fprintf(&b, "%d rows", f.done)
	}
	fmt.Fprintf(&b, ", %d succeeded, %d failed", f.succeeded, f.failed)
	if f.other > 0 {
		fmt.Fprintf(&b, ", %d other", f.other)
	}
	fmt.Fprintf(&b, ", %.1f/s", f.rate)
	if eta, ok := f.eta(); ok {
		fmt.Fprintf(&b, ", eta %v", eta)
	}
	return b.String()
}

// logLine writes one progress line. p.mu is held.
func (p *progress) logLine(now time.Time) {
	f := p.figures(now)
	if p.log == nil {
		fmt.Fprintf(p.out, "mfabatch: progress: %s\n", f.text())
		return
	}
	attrs := []any{"done", f.done}
	if f.total > 0 {
		attrs = append(attrs, "total", f.total, "percent", f.done*100/f.total)
	}
	attrs = append(attrs, "succeeded", f.succeeded, "failed", f.failed, "other", f.other,
		"rows_per_second", math.Round(f.rate*10)/10)
	if eta, ok := f.eta(); ok {
		attrs = append(attrs, "eta_seconds", int64(eta.Seconds()))
	}
	p.log.Info("progress", attrs...)
}

// barWidth is the bar's width where the terminal has room for it.
const barWidth = 30

// newBar makes the bar, with text beside it: width wide for a known total,
// else a spinner. It
// draws only when draw asks (it has no goroutine of its own), and it
// clears its line once full, as Stop does.
func newBar(out io.Writer, total int64, width int, text string) *progressbar.ProgressBar {
	limit := total
	if limit <= 0 {
		limit, width = -1, barWidth // a spinner; the width must be above 0
	}
	return progressbar.NewOptions64(limit,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetWidth(width),
		progressbar.OptionSetDescription(text),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionUseANSICodes(runtime.GOOS != "windows"),
		progressbar.OptionClearOnFinish(),
	)
}

// draw shows the bar with the current figures. p.mu is held.
func (p *progress) draw(now time.Time) {
	if p.closed {
		return
	}
	f := p.figures(now)
	text := f.barText()
	// The line must fit the terminal, or each drawing starts a new line.
	// The bar makes room for the longest text so far, so that it keeps its
	// width while the text's length changes; a text too long is cut.
	width := barWidth
	if fd, ok := p.out.(interface{ Fd() uintptr }); ok {
		if cols, _, err := term.GetSize(int(fd.Fd())); err == nil && cols > 0 {
			room := cols - 12 // "100% ", the bar's ends, spaces, a spare column
			if len(text) > room {
				text = text[:max(room, 0)]
			}
			p.textMax = max(p.textMax, len(text))
			width = min(width, max(room-p.textMax, 0))
		}
	}
	if p.bar == nil || f.total != p.barMax || width != p.barWidth {
		p.bar, p.barMax, p.barWidth = newBar(p.out, f.total, width, text), f.total, width
	}
	// Set64 draws only when the percentage changes, Describe always: the
	// last drawing has both the new count and the new text.
	_ = p.bar.Set64(f.done)
	p.bar.Describe(text)
}

// meter measures a rate over a sliding window of samples: from the newest
// sample at least window old (the first sample while none is) to now. A
// window of 0 measures from the previous sample.
type meter struct {
	window  time.Duration
	samples []sample
}

type sample struct {
	t time.Time
	n int64
}

// rate returns the rate up to (now, n) and records it as a sample.
func (m *meter) rate(now time.Time, n int64) float64 {
	edge := now.Add(-m.window)
	for len(m.samples) > 1 && !m.samples[1].t.After(edge) {
		m.samples = m.samples[1:]
	}
	var r float64
	if len(m.samples) > 0 {
		s := m.samples[0]
		if d := now.Sub(s.t).Seconds(); d > 0 {
			r = float64(n-s.n) / d
		}
	}
	m.samples = append(m.samples, sample{now, n})
	return r
}

// countRows estimates how many rows of the manifest file at path the run
// will report: its non-blank lines, less the header of a CSV file, and of
// those the shard's share. It is exact for JSON Lines and for CSV whose
// records are one line each; a quoted field that spans lines, or a line of
// empty cells, makes it high. It is 0 (unknown) for a file that is not
// regular (a pipe) or cannot be read.
func countRows(path string, m batch.Manifest, shard batch.Shard) int64 {
	// Stat first: opening a named pipe a second time could block.
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		return 0
	}
	fh, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer fh.Close()
	n, err := countLines(fh)
	if err != nil {
		return 0
	}
	if _, ok := m.(*batch.CSV); ok && n > 0 {
		n--
	}
	return shardRows(n, shard)
}

// countLines counts the lines of r that hold more than white space,
// reading 64 KiB at a time.
func countLines(r io.Reader) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	text := false // the line so far holds more than white space
	for {
		k, err := r.Read(buf)
		b := buf[:k]
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			line := b
			if i >= 0 {
				line = b[:i]
			}
			if !text && len(bytes.TrimLeft(line, " \t\r\v\f")) > 0 {
				text = true
			}
			if i < 0 {
				break
			}
			if text {
				n++
			}
			text, b = false, b[i+1:]
		}
		if err == io.EOF {
			if text {
				n++
			}
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// shardRows is how many of rows 1 to n shard s runs.
func shardRows(n int64, s batch.Shard) int64 {
	if s.Count <= 1 {
		return n
	}
	c := int64(s.Count)
	k := n / c
	if int64(s.Index) < n%c {
		k++
	}
	return k
}
