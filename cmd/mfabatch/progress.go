package main

// --progress and --progress-interval: how far a run has got, on standard
// error, never on standard output (where the report may go). At a terminal
// a live bar; elsewhere a line every --progress-interval.

import (
	"cmp"
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
	barWidth   = 30                     // the bar's width where the terminal has room
	// maxETA is the longest ETA shown: past it the rate is too low to say.
	maxETA = 100 * time.Hour
)

// progress shows how far a run has got. Add counts each row's result, from
// the runner's one result goroutine; the display reads the counts from its
// own goroutine, between Start and Stop. The rate is the progressbar
// library's, in log mode too, where its bar is not shown.
type progress struct {
	mode     progressMode   // bar, log or off: never auto
	words    *progressWords // nil for a run's
	out      io.Writer      // standard error
	interval time.Duration
	log      *slog.Logger // log mode with --log-format json; nil for text lines

	succeeded, failed, other atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup

	// mu serialises the bar and, in bar mode, the log lines written around
	// it (see Stderr).
	mu      sync.Mutex
	bar     *progressbar.ProgressBar // made by Start
	total   int64                    // rows the run will report; 0 when unknown
	textMax int                      // the longest text drawn beside the bar
	closed  bool                     // the bar is cleared for good
}

// newProgress makes the display --progress asks for.
func newProgress(f *runFlags, stdout, stderr io.Writer) *progress {
	p := &progress{
		mode:     chooseProgress(f.progress, isTerminal(stderr), f.reportPath == "-" && isTerminal(stdout), os.Getenv("TERM")),
		out:      stderr,
		interval: f.progressInterval,
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

// Start shows progress of total rows (0: unknown) until Stop: the bar at
// once, log lines from one interval on.
func (p *progress) Start(total int64) {
	if p.mode == progressOff || p.stop != nil {
		return
	}
	every, out := p.interval, io.Discard // log lines take the rate of a bar not shown
	if p.mode == progressBar {
		every, out = barRefresh, p.out
	}
	p.mu.Lock()
	p.total, p.bar = total, newBar(out, total)
	p.bar.StartWithoutRender()
	if p.mode == progressBar {
		p.draw()
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
		case <-t.C:
			// A tick and Stop at once: Stop wins, no line after the run.
			select {
			case <-p.stop:
				return
			default:
			}
			p.mu.Lock()
			if p.mode == progressBar {
				p.draw()
			} else {
				p.logLine()
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
	if p.mode == progressBar && !p.closed {
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
	p.draw()
	return n, err
}

// figures are a run's progress at one moment.
type figures struct {
	done, total              int64 // total 0: unknown
	succeeded, failed, other int64
	rate                     float64 // rows per second since the start
	words                    *progressWords
}

// progressWords name what a display counts: its unit, and its three
// counts (a run's succeeded, failed and other); "" leaves a count out.
type progressWords struct {
	unit   string
	counts [3]string
}

// runWords are a run's.
var runWords = &progressWords{unit: "rows", counts: [3]string{"succeeded", "failed", "other"}}

// named are the counts with a name, in order, and the words.
func (f figures) named() ([]string, []int64, *progressWords) {
	w := cmp.Or(f.words, runWords)
	var names []string
	var counts []int64
	for i, c := range []int64{f.succeeded, f.failed, f.other} {
		if w.counts[i] != "" {
			names, counts = append(names, w.counts[i]), append(counts, c)
		}
	}
	return names, counts, w
}

// figures reads the counts, gives them to the bar and takes its rate.
// p.mu is held. In bar mode the bar is drawn when its percentage changes.
func (p *progress) figures() figures {
	f := figures{succeeded: p.succeeded.Load(), failed: p.failed.Load(), other: p.other.Load(), total: p.total, words: p.words}
	f.done = f.succeeded + f.failed + f.other
	if f.total > 0 && f.done > f.total {
		f.total = f.done // the plan's count was short: the file changed
	}
	_ = p.bar.Set64(f.done)
	if s := p.bar.State(); s.SecondsSince > 0 {
		f.rate = s.CurrentBytes / s.SecondsSince
	}
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
	names, counts, w := f.named()
	if f.total > 0 {
		fmt.Fprintf(&b, "%d/%d %s (%d%%)", f.done, f.total, w.unit, f.done*100/f.total)
	} else {
		fmt.Fprintf(&b, "%d %s", f.done, w.unit)
	}
	for i, name := range names {
		fmt.Fprintf(&b, ", %s %d", name, counts[i])
	}
	fmt.Fprintf(&b, ", %.1f %s/s", f.rate, w.unit)
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
	names, counts, w := f.named()
	if f.total > 0 {
		fmt.Fprintf(&b, "%d/%d %s", f.done, f.total, w.unit)
	} else {
		fmt.Fprintf(&b, "%d %s", f.done, w.unit)
	}
	for i, name := range names {
		// The last count is shown once it is not 0.
		if i < len(names)-1 || counts[i] > 0 {
			fmt.Fprintf(&b, ", %d %s", counts[i], name)
		}
	}
	fmt.Fprintf(&b, ", %.1f/s", f.rate)
	if eta, ok := f.eta(); ok {
		fmt.Fprintf(&b, ", eta %v", eta)
	}
	return b.String()
}

// logLine writes one progress line. p.mu is held.
func (p *progress) logLine() {
	f := p.figures()
	if p.log == nil {
		fmt.Fprintf(p.out, "mfabatch: progress: %s\n", f.text())
		return
	}
	attrs := []any{"done", f.done}
	if f.total > 0 {
		attrs = append(attrs, "total", f.total, "percent", f.done*100/f.total)
	}
	names, counts, w := f.named()
	for i, name := range names {
		attrs = append(attrs, name, counts[i])
	}
	attrs = append(attrs, w.unit+"_per_second", math.Round(f.rate*10)/10)
	if eta, ok := f.eta(); ok {
		attrs = append(attrs, "eta_seconds", int64(eta.Seconds()))
	}
	p.log.Info("progress", attrs...)
}

// newBar makes the bar: barWidth wide at most for a known total (the
// library narrows it to fit the terminal), else a spinner. It draws only
// when draw asks (it has no goroutine of its own), and it clears its line
// once full, as Stop does.
func newBar(out io.Writer, total int64) *progressbar.ProgressBar {
	if total <= 0 {
		total = -1
	}
	return progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetWidth(barWidth),
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
func (p *progress) draw() {
	if p.closed {
		return
	}
	p.bar.Describe(p.fit(p.figures().barText()))
}

// fit cuts text to what a terminal line has room for beside the bar: a
// line wider than the terminal wraps, and each drawing starts a new line.
func (p *progress) fit(text string) string {
	fd, ok := p.out.(interface{ Fd() uintptr })
	if !ok {
		return text
	}
	cols, _, err := term.GetSize(int(fd.Fd()))
	if err != nil || cols <= 0 {
		return text
	}
	room := max(cols-12, 0) // "100% ", the bar's ends, spaces, a spare column
	text = text[:min(len(text), room)]
	// Padded to the longest text so far, so that the library, which fits
	// the bar to the line, keeps its width while the text's length changes.
	p.textMax = max(p.textMax, len(text))
	return fmt.Sprintf("%-*s", p.textMax, text)
}
