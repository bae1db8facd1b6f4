package batch_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/mfabatch/mfabatch/batch"
)

var errDiskFull = errors.New("no space left on device")

// failingSink writes rows out until its failFrom-th flush, which fails.
type failingSink struct {
	mu       sync.Mutex
	writes   int
	flushes  int
	failFrom int
	flushed  chan int
}

func (s *failingSink) Write(batch.Result) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return nil
}

func (s *failingSink) Flush() error {
	s.mu.Lock()
	s.flushes++
	n := s.flushes
	s.mu.Unlock()
	s.flushed <- n
	if n >= s.failFrom {
		return errDiskFull
	}
	return nil
}

// A report that fails to flush stops dispatch at once; the calls in
// flight still finish, and the SinkError counts every row that made a
// call and is not in the report: those taken since the last good flush,
// and those that ended after the failure.
func TestFailedFlushCountsRowsSentWithoutARecord(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	m, _ := manifest(t, 50, nil)
	// Each call waits until the test lets it through.
	release := make(chan struct{})
	client := &fakeClient{SetUserMFAPreferenceFn: answerWhen(func() <-chan struct{} { return release })}
	sink := &failingSink{failFrom: 2, flushed: make(chan int, 10)}
	cfg := fastConfig()
	cfg.Workers = 2
	cfg.OnHalt = func(reason string) { t.Errorf("OnHalt(%q) for a report failure", reason) }
	stopped := make(chan struct{}, 1)
	cfg.Log = slog.New(slog.NewTextHandler(logWatch{"the report could not be written", stopped}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	wait := runInBackground(context.Background(), &batch.Runner{Client: client, Config: cfg}, m, sink)
	release <- struct{}{} // a row ends, and is written out by the first flush
	<-sink.flushed
	release <- struct{}{} // another ends, and the flush that should write it fails
	<-sink.flushed
	<-stopped      // dispatch has stopped
	close(release) // the calls in flight end after the failure
	sum, err := wait()

	var se *batch.SinkError
	if !errors.As(err, &se) || !errors.Is(err, errDiskFull) {
		t.Fatalf("err = %v, want a SinkError for the sink's error", err)
	}
	calls := len(client.Calls())
	if se.Unrecorded != calls-1 {
		t.Errorf("%d rows unrecorded, want %d: every call but the first row's", se.Unrecorded, calls-1)
	}
	// Two workers: at most two calls were in flight when the flush failed.
	if calls < 2 || calls > 4 {
		t.Errorf("%d calls, want 2 to 4: none started after the failure", calls)
	}
	if sum.Attempts != calls || sum.Rows != 50 || sum.Statuses[batch.StatusSucceeded] != calls {
		t.Errorf("summary: %d attempts, %d rows, statuses %v; want %d calls succeeded of 50 rows", sum.Attempts, sum.Rows, sum.Statuses, calls)
	}
	if sink.writes != 2 || sink.flushes != 2 {
		t.Errorf("%d writes and %d flushes, want 2 of each: nothing is written after the failure", sink.writes, sink.flushes)
	}
}

// logWatch signals when a log line says what it waits for.
type logWatch struct {
	what string
	seen chan struct{}
}

func (w logWatch) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.what) {
		w.seen <- struct{}{}
	}
	return len(p), nil
}

// A failing Write counts the rows held since the last flush too.
func TestFailedWriteCountsRowsSentWithoutARecord(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
	m, _ := manifest(t, 10, nil)
	sink := &collect{failAt: 3}
	cfg := fastConfig()
	cfg.Workers = 1
	sum, err := (&batch.Runner{Client: &fakeClient{}, Config: cfg}).Run(context.Background(), m, sink)
	var se *batch.SinkError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a SinkError", err)
	}
	if se.Unrecorded != sum.Attempts || sum.Attempts < 3 {
		t.Errorf("%d rows unrecorded of %d calls, want all (no flush succeeded), at least 3", se.Unrecorded, sum.Attempts)
	}
}
