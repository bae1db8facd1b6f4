package batch

import (
	"context"
	"sync"
)

// aheadRows bounds how far the producer reads ahead of the calls: at
// most this many rows wait in the regions' queues together, whatever the
// regions. A region slower than the rest (throttled, say) may fill them
// with its own rows; the producer then reads on only as that region takes
// rows, and rows of other regions behind them in the manifest wait too.
// So a slow region holds the others back only once it is aheadRows rows
// behind them, and memory stays flat: a waiting row is its token and
// request, some 2 KB, so the queues hold 2 MB at most.
const aheadRows = 1024

// lane is a region's queue and the worker that sends its rows, as many at
// once as its pool allows. A row waits only on its own region's limiter,
// retries included, so a throttled region slows only its own rows.
type lane struct {
	jobs   chan *job
	worker *worker
}

// run takes the lane's jobs in order and sends each in a goroutine of its
// own once the pool has a slot for it. It returns when the jobs are done.
func (l *lane) run(running, sending context.Context, ahead <-chan struct{}) {
	w := l.worker
	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	for j := range l.jobs {
		<-ahead
		if sending.Err() != nil || !w.pool.acquire(sending) {
			if !deliver(running, w.results, notSent(sending, j.res, w.cfg.Now())) {
				return
			}
			continue
		}
		inFlight.Go(func() {
			defer w.pool.release()
			deliver(running, w.results, w.process(running, sending, j))
		})
	}
}

// dispatch hands the producer's jobs to their regions' lanes, starting a
// lane when its region's first job comes. Only the producer calls its
// methods, so the lanes need no lock.
type dispatch struct {
	cfg     Config
	client  Client
	results chan<- Result
	watch   *failureWatch
	halt    context.CancelCauseFunc
	ahead   chan struct{} // a place for each job queued and not yet taken
	lanes   map[string]*lane
	active  sync.WaitGroup // the lanes' goroutines
}

func newDispatch(cfg Config, client Client, results chan<- Result, halt context.CancelCauseFunc) *dispatch {
	return &dispatch{cfg: cfg, client: client, results: results, halt: halt,
		watch: &failureWatch{limit: cfg.MaxFailures},
		ahead: make(chan struct{}, aheadRows), lanes: map[string]*lane{}}
}

// queue puts j on its region's lane, waiting for a place in d.ahead. It
// returns false, with j not queued, when sending ends first or the run
// fails.
func (d *dispatch) queue(running, sending context.Context, j *job) bool {
	if sending.Err() != nil {
		return false
	}
	select {
	case d.ahead <- struct{}{}:
	case <-sending.Done():
		return false
	case <-running.Done():
		return false
	}
	l, ok := d.lanes[j.res.Region]
	if !ok {
		w := &worker{client: d.client, cfg: d.cfg, results: d.results, watch: d.watch, halt: d.halt,
			pacer: newPacer(d.cfg, j.res.Region), reads: newPacer(d.cfg.reading(), j.res.Region+" (reads)"), pool: newPool(d.cfg)}
		l = &lane{jobs: make(chan *job, aheadRows), worker: w}
		d.lanes[j.res.Region] = l
		d.active.Go(func() { l.run(running, sending, d.ahead) })
	}
	l.jobs <- j // the lane has room: no lane holds more than aheadRows jobs
	return true
}

// finish waits until the lanes have taken every job queued, then tells
// them no more come and waits for their rows to be done. When sending
// ends first, the jobs still queued are reported not sent at once, rather
// than left to lanes whose rows may be in calls for a while.
func (d *dispatch) finish(running, sending context.Context) {
	defer d.active.Wait()
	defer d.close()
	// Once all of d.ahead's places are the producer's, no job is queued.
	for range aheadRows {
		select {
		case d.ahead <- struct{}{}:
		case <-sending.Done():
			d.drain(running, sending)
			return
		case <-running.Done():
			return
		}
	}
}

// drain reports the jobs still queued as not sent.
func (d *dispatch) drain(running, sending context.Context) {
	for _, l := range d.lanes {
		for queued := true; queued; {
			select {
			case j := <-l.jobs:
				<-d.ahead
				if !deliver(running, d.results, notSent(sending, j.res, d.cfg.Now())) {
					return
				}
			default:
				queued = false
			}
		}
	}
}

// close tells every lane that no more jobs come.
func (d *dispatch) close() {
	for _, l := range d.lanes {
		close(l.jobs)
	}
}

// workers is how many rows the lanes may have in flight now, all regions
// together.
// Call it once the run has ended.
func (d *dispatch) workers() int {
	n := 0
	for _, l := range d.lanes {
		n += l.worker.pool.workers()
	}
	return n
}

// pacers are the regions' pacers, for the summary's final rates.
func (d *dispatch) pacers() []*pacer {
	var ps []*pacer
	for _, l := range d.lanes {
		ps = append(ps, l.worker.pacer)
		if d.cfg.Plan || d.cfg.SkipUnchanged || d.cfg.Verify {
			ps = append(ps, l.worker.reads)
		}
	}
	return ps
}
