package batch

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
)

// aheadRows bounds how far the producer reads ahead of the workers: at
// most this many rows wait in the regions' queues together, whatever the
// regions. A region slower than the rest (throttled, say) may fill them
// with its own rows; the producer then reads on only as that region takes
// rows, and rows of other regions behind them in the manifest wait too.
// So a slow region holds the others back only once it is aheadRows rows
// behind them, and memory stays flat: a waiting row is its token and
// request, some 2 KB, so the queues hold 2 MB at most.
const aheadRows = 1024

// lane is a region's queue and the workers that send its rows. A worker
// waits only on its own region's limiter, retries included, so a
// throttled region slows only its own rows.
type lane struct {
	jobs chan *job
	pool *pool
}

// dispatch hands the producer's jobs to their regions' lanes, starting a
// region's workers when its first job comes. Only the producer queues.
type dispatch struct {
	cfg   Config
	ahead chan struct{} // a place for each job queued and not yet taken
	lanes map[string]*lane

	g         *errgroup.Group
	running   *sync.WaitGroup // the producer and the workers
	newWorker func(l *lane) worker
	send      func(Result) bool // false once the run has failed
}

// queue puts j on its region's lane. The caller has its place in
// d.ahead, so the lane has room: no lane holds more than aheadRows jobs.
func (d *dispatch) queue(j *job) {
	l, ok := d.lanes[j.region]
	if !ok {
		l = &lane{jobs: make(chan *job, aheadRows), pool: newPool(d.cfg)}
		d.lanes[j.region] = l
		d.start(l, l.pool.start)
	}
	l.jobs <- j
}

// start starts n workers on l. A worker may start more: it holds a count
// of d.running, so the count cannot reach zero while it adds to it.
func (d *dispatch) start(l *lane, n int) {
	for range n {
		d.running.Add(1)
		d.g.Go(func() error {
			defer d.running.Done()
			w := d.newWorker(l)
			w.spawn = func(n int) { d.start(l, n) }
			for j := range l.jobs {
				<-d.ahead
				if !d.send(w.process(j)) {
					return nil
				}
			}
			return nil
		})
	}
}

// finish waits until the workers have taken every job queued. When stop
// ends first, it hands the jobs still queued to unsent at once, rather
// than leave them to workers that may be in calls for a while.
func (d *dispatch) finish(stop, gctx context.Context, unsent func(*job) bool) {
	// Once all of d.ahead's places are the producer's, no job is queued.
	for range aheadRows {
		select {
		case d.ahead <- struct{}{}:
		case <-stop.Done():
			d.drain(unsent)
			return
		case <-gctx.Done():
			return
		}
	}
}

// drain hands the jobs still queued to unsent, until it returns false.
func (d *dispatch) drain(unsent func(*job) bool) {
	for _, l := range d.lanes {
		for queued := true; queued; {
			select {
			case j := <-l.jobs:
				<-d.ahead
				if !unsent(j) {
					return
				}
			default:
				queued = false
			}
		}
	}
}

// close tells every lane's workers that no more jobs come.
func (d *dispatch) close() {
	for _, l := range d.lanes {
		close(l.jobs)
	}
}

// workers is how many workers the lanes have now, all regions together.
// Call it once the producer has ended.
func (d *dispatch) workers() int {
	n := 0
	for _, l := range d.lanes {
		n += l.pool.workers()
	}
	return n
}
