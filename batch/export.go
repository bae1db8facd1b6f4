package batch

// Export: a pool's users as an admin manifest, each with the MFA state
// AdminGetUser reports, so that running the manifest restores that state.
// One goroutine lists the pages (exportlist.go), a pool of readers reads
// each user's state, and one writer writes the rows in listing order.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"golang.org/x/sync/errgroup"
)

// ExportClient is the Cognito calls an export makes, with the SDK's
// signatures: *cognitoidentityprovider.Client satisfies it.
type ExportClient interface {
	ListUsers(ctx context.Context, params *cip.ListUsersInput, optFns ...func(*cip.Options)) (*cip.ListUsersOutput, error)
	ListUsersInGroup(ctx context.Context, params *cip.ListUsersInGroupInput, optFns ...func(*cip.Options)) (*cip.ListUsersInGroupOutput, error)
	AdminGetUser(ctx context.Context, params *cip.AdminGetUserInput, optFns ...func(*cip.Options)) (*cip.AdminGetUserOutput, error)
}

// RowWriter takes an export's rows in listing order; *ManifestWriter is
// one. Flush writes out the rows written so far.
type RowWriter interface {
	Write(Row) error
	Flush() error
}

// OpList is the op of a list call (ListUsers, ListUsersInGroup), as
// metrics count calls.
const OpList = "list"

// ListPagesPerSecond is the pace listing keeps. ListUsers and
// ListUsersInGroup share the account's UserList quota, 30 calls a second
// in a region, with every other tool listing users there (consoles, sync
// jobs); 5 pages a second leaves most of it to them, and is 300 users a
// second, more than reads at the UserRead quota (about 120 a second) can
// take, so listing never holds an export back.
const ListPagesPerSecond = 5

// PageSize is the most users ListUsers and ListUsersInGroup return a call.
const PageSize = 60

// aheadUsers bounds how far listing runs ahead of the writer: the users
// listed and not yet written, a few pages, whatever the pool's size.
const aheadUsers = 4 * PageSize

// ExportConfig tunes an export. The zero value of each field has the
// meaning its comment gives.
type ExportConfig struct {
	UserPoolID string
	Region     string // where the calls go; "" for the client's own
	Filter     string // ListUsers' filter syntax; "" lists every user
	Group      string // list this group's members (ListUsersInGroup), with no filter
	NoState    bool   // leave the settings blank: no AdminGetUser call
	ReadRPS    float64
	ListRPS    float64 // list calls a second (see ListPagesPerSecond); 0 means unlimited
	Adaptive   bool    // slow reads and listing down when throttled; needs a rate
	// MaxAttempts is the attempts a call gets, the first included (0
	// means 5); Timeout bounds each (0 means 10s).
	MaxAttempts int
	Timeout     time.Duration

	// Start is the pagination token to list from, "" for the first page:
	// a resumed export's checkpoint. When the service refuses it, listing
	// starts again from the first page.
	Start string
	// Written, when set, reports users the output already has: they are
	// listed but not read or written again.
	Written func(username string) bool
	// OnPage, when set, hears where the export stands once a page's rows
	// are flushed; its error ends the export.
	OnPage func(Page) error
	// OnUser, when set, hears of each listed user the writer comes to:
	// written, or vanished (deleted before it was read).
	OnUser func(written bool)
	// OnCall, when set, hears of each call as it ends, from several
	// goroutines at once: for metrics (ops OpList and OpRead).
	OnCall func(CallStat)
	// Secrets, when set, gives the AWS credentials' values, which nothing
	// the service sends back may carry into the output or a message.
	Secrets func() []string

	Log         *slog.Logger // calls at debug, slow-downs at info; nil logs nothing
	BackoffBase time.Duration
	BackoffMax  time.Duration
	Now         func() time.Time
}

// Page is where an export stands after a page's rows are flushed.
type Page struct {
	Next  string // the token that lists the next page; "" after the last
	Users int    // users written by this export so far
	Last  bool   // the listing is complete
}

// ExportSummary counts what an export did.
type ExportSummary struct {
	Users    int // rows written out: flushed to the RowWriter's output
	Pages    int // pages listed
	Lists    int // list calls, retries included
	Reads    int // AdminGetUser calls, retries included
	Vanished int // users listed, then not found when read
	Skipped  int // users listed that the output already had (Written)
	// Restarted says the service refused the Start token, so the listing
	// began again from the first page.
	Restarted   bool
	Interrupted bool
	Elapsed     time.Duration
}

// ReadsPerSecond is the rate reads went at.
func (s *ExportSummary) ReadsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Reads) / s.Elapsed.Seconds()
}

// ExportError is a call that failed for good, which ends the export.
type ExportError struct {
	Op       string // the Cognito operation: ListUsers, ListUsersInGroup, AdminGetUser
	Username string // AdminGetUser's user
	Attempts int
	Class    Class // what the service said, fit to show
}

func (e *ExportError) Error() string {
	var who string
	if e.Username != "" {
		who = fmt.Sprintf(" of user %q", e.Username)
	}
	msg := fmt.Sprintf("%s%s: %s", e.Op, who, e.Class.Code)
	if e.Class.Message != "" {
		msg += ": " + e.Class.Message
	}
	if e.Attempts > 1 {
		msg += " (" + plural(e.Attempts, "attempt") + ")"
	}
	return msg
}

// OutputError is an output that could not be written, or a checkpoint
// (OnPage) that could not be kept.
type OutputError struct{ Err error }

func (e *OutputError) Error() string { return e.Err.Error() }
func (e *OutputError) Unwrap() error { return e.Err }

// Exporter writes a pool's users through Client.
type Exporter struct {
	Client ExportClient
	Config ExportConfig
}

// Run lists the pool's users and writes a row for each to w, in listing
// order, flushing w after each page. It returns an error when a call
// fails for good (an *ExportError), the service answers what no pool
// holds, or w fails (an *OutputError); the rows written until then are
// whole and in order. When ctx is cancelled, listing stops, reads in
// flight finish, and Run returns ctx's error once the rows read in order
// are written.
func (x *Exporter) Run(ctx context.Context, w RowWriter) (*ExportSummary, error) {
	cfg := x.Config.withDefaults()
	e := &export{cfg: cfg, client: x.Client, w: w, sum: &ExportSummary{}}
	e.readPacer = newPacer(cfg.pace(cfg.ReadRPS), cfg.Region+" (reads)")
	e.listPacer = newPacer(cfg.pace(cfg.ListRPS), cfg.Region+" (listing)")
	e.readers = newPool(Config{RPS: cfg.ReadRPS})
	start := cfg.Now()

	// running ends only when the export fails; it bounds the calls in
	// flight. sending ends on an interrupt too: no call starts after it.
	g, running := errgroup.WithContext(context.WithoutCancel(ctx))
	sending, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	defer context.AfterFunc(running, func() { stop(context.Cause(running)) })()

	items := make(chan *item, aheadUsers)
	jobs := make(chan *item)
	g.Go(func() error {
		defer close(items)
		defer close(jobs)
		e.list(running, sending, items, jobs)
		return nil
	})
	g.Go(func() error { e.readAll(running, sending, jobs); return nil })
	g.Go(func() error { return e.write(items) })
	err := g.Wait()
	e.sum.Elapsed = cfg.Now().Sub(start)
	if err == nil && ctx.Err() != nil && !e.complete {
		e.sum.Interrupted = true
		err = ctx.Err()
	}
	return e.sum, err
}

func (c ExportConfig) withDefaults() ExportConfig {
	base := Config{MaxAttempts: c.MaxAttempts, Timeout: c.Timeout, BackoffBase: c.BackoffBase,
		BackoffMax: c.BackoffMax, Now: c.Now, Log: c.Log}.withDefaults()
	c.MaxAttempts, c.Timeout, c.BackoffBase, c.BackoffMax = base.MaxAttempts, base.Timeout, base.BackoffBase, base.BackoffMax
	c.Now, c.Log = base.Now, base.Log
	return c
}

// pace is the engine's Config for a pacer at rps calls a second.
func (c ExportConfig) pace(rps float64) Config {
	return Config{RPS: rps, Burst: 1, Adaptive: c.Adaptive, Log: c.Log, Now: c.Now}
}

// export is one Run's state.
type export struct {
	cfg       ExportConfig
	client    ExportClient
	w         RowWriter
	readPacer *pacer
	listPacer *pacer
	readers   *pool

	mu       sync.Mutex // guards sum's call counts, from several goroutines
	sum      *ExportSummary
	complete bool // the writer came to the last page's end
	written  int  // rows handed to w; sum.Users counts those flushed
}

// An item is a listed user on its way to the writer, or, with page set,
// the end of a page, or, with err set, the listing's failure.
type item struct {
	username, sub string
	done          chan struct{} // closed when fate is known
	fate          fate
	row           Row
	err           error // a read that failed for good

	page *Page
}

// fate is what became of a listed user.
type fate int

const (
	unread   fate = iota // not read: the export stopped first
	read                 // read, or listed with --no-state: row is set
	vanished             // deleted between listing and reading
	failed               // the read failed for good: err is set
)

func (it *item) finish(o fate) {
	it.fate = o
	close(it.done)
}

// readAll reads each job's user, as many at once as the readers' pool
// allows.
func (e *export) readAll(running, sending context.Context, jobs <-chan *item) {
	var inFlight sync.WaitGroup
	defer inFlight.Wait()
	for it := range jobs {
		if sending.Err() != nil || !e.readers.acquire(sending) {
			it.finish(unread)
			continue
		}
		inFlight.Go(func() {
			defer e.readers.release()
			e.read(running, sending, it)
		})
	}
}

// read reads one user's MFA state with AdminGetUser.
func (e *export) read(running, sending context.Context, it *item) {
	in := &cip.AdminGetUserInput{UserPoolId: &e.cfg.UserPoolID, Username: &it.username}
	var out *cip.AdminGetUserOutput
	err := e.call(running, sending, e.readPacer, OpRead, it.username, func(ctx context.Context) error {
		var err error
		sent := e.cfg.Now()
		out, err = e.client.AdminGetUser(ctx, in, e.region)
		e.readers.observe(e.cfg.Now().Sub(sent))
		return err
	})
	var xe *ExportError
	switch {
	case err == nil:
		if it.sub == "" {
			it.sub = e.shown(attribute(out.UserAttributes, "sub"))
		}
		it.row = e.row(it, AdminUserState(out))
		it.finish(read)
	case errors.As(err, &xe) && xe.Class.Code == "UserNotFoundException":
		e.cfg.Log.Debug("user vanished before it was read", "username", it.username)
		it.finish(vanished)
	case errors.As(err, &xe):
		xe.Op, xe.Username = "AdminGetUser", it.username
		it.err = err
		it.finish(failed)
	default:
		it.finish(unread)
	}
}

// row is the manifest row of a listed user in state st: the settings
// that set SMS, TOTP and email as st has them, or none, unread.
func (e *export) row(it *item, st State) Row {
	r := Row{ID: it.sub, Admin: true, Username: it.username, UserPoolID: e.cfg.UserPoolID}
	if st.Known() {
		r.Settings = st.Restore([]int{0, 1, 2})
	}
	return r
}

// region sends a call to the export's region, when it names one.
func (e *export) region(o *cip.Options) {
	if e.cfg.Region != "" {
		o.Region = e.cfg.Region
	}
}

// write writes the rows in listing order, and flushes and checkpoints
// each page. It stops at the first user not read: what follows it would
// be out of order.
func (e *export) write(items <-chan *item) error {
	for it := range items {
		if it.page != nil {
			if err := e.endPage(*it.page); err != nil {
				return err
			}
			continue
		}
		if it.done == nil { // the listing failed
			return e.flushed(it.err)
		}
		<-it.done
		switch it.fate {
		case read:
			if err := e.w.Write(it.row); err != nil {
				return &OutputError{err}
			}
			e.written++
		case vanished:
			e.sum.Vanished++
		case failed:
			return e.flushed(it.err)
		default:
			return e.flushed(nil)
		}
		if e.cfg.OnUser != nil {
			e.cfg.OnUser(it.fate == read)
		}
	}
	return e.flushed(nil)
}

// endPage flushes a page's rows and says so.
func (e *export) endPage(p Page) error {
	if err := e.flush(); err != nil {
		return err
	}
	e.sum.Pages++
	e.complete = p.Last
	p.Users = e.written
	if e.cfg.OnPage == nil {
		return nil
	}
	if err := e.cfg.OnPage(p); err != nil {
		return &OutputError{err}
	}
	return nil
}

// flushed flushes the rows written, if any, as the export stops, and
// returns err, or the flush's: an export that wrote no row leaves its
// output untouched, a CSV header included.
func (e *export) flushed(err error) error {
	if e.written == 0 {
		return err
	}
	if ferr := e.flush(); err == nil {
		err = ferr
	}
	return err
}

// flush writes out the rows written.
func (e *export) flush() error {
	if err := e.w.Flush(); err != nil {
		return &OutputError{err}
	}
	e.sum.Users = e.written
	return nil
}

// PoolRegion is the region a user pool ID begins with; "" when its
// prefix is no region, as an emulator's may be.
func PoolRegion(id string) string { return poolRegion(id) }
