package batch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/mfabatch/mfabatch/batch"
)

// fakePool is a user pool for export tests: ListUsers and
// ListUsersInGroup in pages of at most 60 under opaque tokens, and
// AdminGetUser with each user's MFA state. fault, when set, may fail a
// call instead: it gets the operation, the call's number for that
// operation (from 1) and the user read, if any.
type fakePool struct {
	pool  string
	users []fakeUser
	fault func(op string, n int, username string) error
	// latency, when set, delays each AdminGetUser by its user's.
	latency func(username string) time.Duration

	mu      sync.Mutex
	calls   map[string]int
	filters []string       // the Filter of each ListUsers call
	tokens  map[string]int // the tokens handed out: the index each lists from
}

type fakeUser struct {
	name, sub string
	mfa       []string
	preferred string
	group     bool // in the group "g"
	gone      bool // listed, but deleted before it is read
}

// newFakePool makes a pool of n users, named user001..., in a mix of
// MFA states; every third is in the group "g".
func newFakePool(n int) *fakePool {
	f := &fakePool{pool: "us-east-1_TEST", calls: map[string]int{}, tokens: map[string]int{}}
	states := []struct {
		mfa       []string
		preferred string
	}{
		{nil, ""},
		{[]string{"SMS_MFA"}, "SMS_MFA"},
		{[]string{"SMS_MFA", "SOFTWARE_TOKEN_MFA"}, "SOFTWARE_TOKEN_MFA"},
		{[]string{"EMAIL_OTP"}, ""},
	}
	for i := range n {
		s := states[i%len(states)]
		f.users = append(f.users, fakeUser{name: fmt.Sprintf("user%03d", i+1), sub: fmt.Sprintf("sub-%03d", i+1),
			mfa: s.mfa, preferred: s.preferred, group: i%3 == 0})
	}
	return f
}

// count counts a call, and returns its fault, if any.
func (f *fakePool) count(op, username string) error {
	f.mu.Lock()
	f.calls[op]++
	n := f.calls[op]
	f.mu.Unlock()
	if f.fault != nil {
		return f.fault(op, n, username)
	}
	return nil
}

func (f *fakePool) callsOf(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// page lists up to limit of the users keep takes from the one token names.
func (f *fakePool) page(token *string, limit int32, keep func(fakeUser) bool) ([]types.UserType, *string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	from := 0
	if token != nil {
		i, ok := f.tokens[*token]
		if !ok {
			return nil, nil, apiErr("InvalidParameterException", "Paging marker "+*token+" is invalid for request")
		}
		from = i
	}
	var out []types.UserType
	i := from
	for ; i < len(f.users) && len(out) < int(limit); i++ {
		u := f.users[i]
		if keep(u) {
			out = append(out, types.UserType{Username: aws.String(u.name),
				Attributes: []types.AttributeType{{Name: aws.String("email"), Value: aws.String(u.name + "@example.com")}, {Name: aws.String("sub"), Value: aws.String(u.sub)}}})
		}
	}
	if i >= len(f.users) {
		return out, nil, nil
	}
	next := fmt.Sprintf("tok-%d-%d", i, len(f.tokens))
	f.tokens[next] = i
	return out, &next, nil
}

func (f *fakePool) ListUsers(_ context.Context, in *cip.ListUsersInput, _ ...func(*cip.Options)) (*cip.ListUsersOutput, error) {
	if err := f.count("ListUsers", ""); err != nil {
		return nil, err
	}
	filter := aws.ToString(in.Filter)
	f.mu.Lock()
	f.filters = append(f.filters, filter)
	f.mu.Unlock()
	prefix, ok := strings.CutPrefix(filter, `username ^= "`)
	if filter != "" && !ok {
		return nil, apiErr("InvalidParameterException", "Error while parsing filter.")
	}
	prefix = strings.TrimSuffix(prefix, `"`)
	users, next, err := f.page(in.PaginationToken, aws.ToInt32(in.Limit), func(u fakeUser) bool { return strings.HasPrefix(u.name, prefix) })
	if err != nil {
		return nil, err
	}
	return &cip.ListUsersOutput{Users: users, PaginationToken: next}, nil
}

func (f *fakePool) ListUsersInGroup(_ context.Context, in *cip.ListUsersInGroupInput, _ ...func(*cip.Options)) (*cip.ListUsersInGroupOutput, error) {
	if err := f.count("ListUsersInGroup", ""); err != nil {
		return nil, err
	}
	if aws.ToString(in.GroupName) != "g" {
		return nil, apiErr("ResourceNotFoundException", "Group not found.")
	}
	users, next, err := f.page(in.NextToken, aws.ToInt32(in.Limit), func(u fakeUser) bool { return u.group })
	if err != nil {
		return nil, err
	}
	return &cip.ListUsersInGroupOutput{Users: users, NextToken: next}, nil
}

func (f *fakePool) AdminGetUser(ctx context.Context, in *cip.AdminGetUserInput, _ ...func(*cip.Options)) (*cip.AdminGetUserOutput, error) {
	name := aws.ToString(in.Username)
	if err := f.count("AdminGetUser", name); err != nil {
		return nil, err
	}
	if f.latency != nil {
		select {
		case <-time.After(f.latency(name)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	for _, u := range f.users {
		if u.name == name && !u.gone {
			out := &cip.AdminGetUserOutput{Username: in.Username, UserMFASettingList: u.mfa}
			if u.preferred != "" {
				out.PreferredMfaSetting = aws.String(u.preferred)
			}
			return out, nil
		}
	}
	return nil, apiErr("UserNotFoundException", "User does not exist.")
}

// want is the export's CSV of the users keep takes, in order.
func (f *fakePool) want(noState bool, keep func(fakeUser) bool) string {
	var b strings.Builder
	b.WriteString(strings.Join(batch.AdminColumns, ",") + "\n")
	for _, u := range f.users {
		if keep != nil && !keep(u) || u.gone {
			continue
		}
		cells := []string{u.sub, u.name, f.pool}
		for _, api := range []string{"SMS_MFA", "SOFTWARE_TOKEN_MFA", "EMAIL_OTP"} {
			switch {
			case noState:
				cells = append(cells, "", "")
			default:
				enabled := strings.Contains(strings.Join(u.mfa, " "), api)
				cells = append(cells, strconv.FormatBool(enabled), strconv.FormatBool(u.preferred == api))
			}
		}
		b.WriteString(strings.Join(append(cells, ""), ",") + "\n")
	}
	return b.String()
}

// exportTo runs an export of f to out with cfg, fast: no pace, no backoff.
func exportTo(ctx context.Context, f *fakePool, cfg batch.ExportConfig, out *bytes.Buffer, format string) (*batch.ExportSummary, error) {
	cfg.UserPoolID = f.pool
	cfg.BackoffBase, cfg.BackoffMax = time.Microsecond, time.Microsecond
	w, err := batch.NewManifestWriter(out, format, true)
	if err != nil {
		return nil, err
	}
	return (&batch.Exporter{Client: f, Config: cfg}).Run(ctx, w)
}

func TestExportWritesEveryUserInOrderWithItsState(t *testing.T) {
	f := newFakePool(150)
	// Later users answer sooner: the rows must still come in listing order.
	f.latency = func(name string) time.Duration {
		n, _ := strconv.Atoi(strings.TrimPrefix(name, "user"))
		return time.Duration(150-n) * 20 * time.Microsecond
	}
	var out bytes.Buffer
	var pages []batch.Page
	sum, err := exportTo(context.Background(), f, batch.ExportConfig{OnPage: func(p batch.Page) error {
		pages = append(pages, p)
		return nil
	}}, &out, batch.FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), f.want(false, nil); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if sum.Users != 150 || sum.Pages != 3 || sum.Lists != 3 || sum.Reads != 150 || sum.Vanished != 0 || sum.Interrupted {
		t.Errorf("summary %+v", sum)
	}
	if len(pages) != 3 || pages[0].Users != 60 || pages[0].Next == "" || pages[1].Users != 120 || pages[2] != (batch.Page{Users: 150, Last: true}) {
		t.Errorf("pages %+v", pages)
	}
	if n := f.callsOf("AdminGetUser"); n != 150 {
		t.Errorf("%d AdminGetUser calls, want 150", n)
	}
}

func TestExportRowsRestoreTheState(t *testing.T) {
	f := newFakePool(4)
	var out bytes.Buffer
	if _, err := exportTo(context.Background(), f, batch.ExportConfig{}, &out, batch.FormatJSONL); err != nil {
		t.Fatal(err)
	}
	m := batch.ReadJSONLines(strings.NewReader(out.String()))
	for i := range f.users {
		row, err := m.Next()
		if err != nil {
			t.Fatal(err)
		}
		u := f.users[i]
		var pref *string
		if u.preferred != "" {
			pref = &u.preferred
		}
		before := batch.StateOf(u.mfa, pref)
		if row.Err != nil || row.Username != u.name || row.UserPoolID != f.pool || row.ID != u.sub {
			t.Errorf("row %d: %+v", i+1, row)
		}
		// Any state, with the row written, is the state exported.
		for _, from := range []batch.State{batch.NoMFA, batch.StateOf([]string{"SMS_MFA", "SOFTWARE_TOKEN_MFA", "EMAIL_OTP"}, aws.String("EMAIL_OTP"))} {
			if got := from.With(row.Settings); got.String() != before.String() {
				t.Errorf("row %d from %s: becomes %s, want %s", i+1, from, got, before)
			}
		}
		if row.Settings.WebAuthn.IsSet() {
			t.Errorf("row %d sets the passkey: AdminGetUser does not report it", i+1)
		}
	}
}

func TestExportNoStateReadsNobody(t *testing.T) {
	f := newFakePool(70)
	var out bytes.Buffer
	sum, err := exportTo(context.Background(), f, batch.ExportConfig{NoState: true}, &out, batch.FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), f.want(true, nil); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if n := f.callsOf("AdminGetUser"); n != 0 || sum.Reads != 0 || sum.Users != 70 {
		t.Errorf("%d AdminGetUser calls, summary %+v", n, sum)
	}
}

func TestExportFilterAndGroup(t *testing.T) {
	f := newFakePool(200)
	var out bytes.Buffer
	filter := `username ^= "user1"`
	if _, err := exportTo(context.Background(), f, batch.ExportConfig{Filter: filter}, &out, batch.FormatCSV); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), f.want(false, func(u fakeUser) bool { return strings.HasPrefix(u.name, "user1") }); got != want {
		t.Errorf("filtered output:\n%s\nwant:\n%s", got, want)
	}
	for _, got := range f.filters {
		if got != filter {
			t.Errorf("a ListUsers call had filter %q, want %q", got, filter)
		}
	}

	out.Reset()
	sum, err := exportTo(context.Background(), f, batch.ExportConfig{Group: "g"}, &out, batch.FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), f.want(false, func(u fakeUser) bool { return u.group }); got != want {
		t.Errorf("group output:\n%s\nwant:\n%s", got, want)
	}
	if sum.Users != 67 || f.callsOf("ListUsersInGroup") != sum.Lists || sum.Lists < 2 {
		t.Errorf("group summary %+v, %d ListUsersInGroup calls", sum, f.callsOf("ListUsersInGroup"))
	}
}

func TestExportLeavesOutVanishedUsers(t *testing.T) {
	f := newFakePool(10)
	f.users[3].gone, f.users[7].gone = true, true
	var out bytes.Buffer
	var written, gone int
	sum, err := exportTo(context.Background(), f, batch.ExportConfig{OnUser: func(w bool) {
		if w {
			written++
		} else {
			gone++
		}
	}}, &out, batch.FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), f.want(false, nil); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if sum.Vanished != 2 || sum.Users != 8 || written != 8 || gone != 2 {
		t.Errorf("summary %+v; OnUser heard %d written, %d vanished", sum, written, gone)
	}
}

func TestExportRetriesThrottlingAndServerErrors(t *testing.T) {
	f := newFakePool(65)
	f.fault = func(op string, n int, _ string) error {
		switch {
		case op == "ListUsers" && n <= 2:
			return apiErr("TooManyRequestsException", "Rate exceeded")
		case op == "AdminGetUser" && n%10 == 0:
			return apiErr("InternalErrorException", "oops")
		}
		return nil
	}
	var out bytes.Buffer
	var stats []batch.CallStat
	var mu sync.Mutex
	sum, err := exportTo(context.Background(), f, batch.ExportConfig{OnCall: func(c batch.CallStat) {
		mu.Lock()
		stats = append(stats, c)
		mu.Unlock()
	}}, &out, batch.FormatCSV)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), f.want(false, nil); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if sum.Lists != f.callsOf("ListUsers") || sum.Lists != 4 || sum.Reads != f.callsOf("AdminGetUser") || sum.Reads <= 65 {
		t.Errorf("summary %+v; calls %v", sum, f.calls)
	}
	ops := map[string]int{}
	throttled := 0
	for _, c := range stats {
		ops[c.Op]++
		if c.Throttled {
			throttled++
		}
	}
	if ops[batch.OpList] != sum.Lists || ops[batch.OpRead] != sum.Reads || throttled != 2 {
		t.Errorf("OnCall heard %v, %d throttled; summary %+v", ops, throttled, sum)
	}
}

func TestExportStopsAtAnErrorNoUserCanPass(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    batch.ExportConfig
		fault  func(op string, n int, user string) error
		rows   int
		err    string
		lists  int
		reads  int
		status string
	}{
		{name: "no such pool", fault: func(op string, _ int, _ string) error {
			return apiErr("ResourceNotFoundException", "User pool us-east-1_TEST does not exist.")
		}, err: "ListUsers: ResourceNotFoundException: User pool us-east-1_TEST does not exist.", lists: 1},
		{name: "bad filter", cfg: batch.ExportConfig{Filter: `email = `}, err: "ListUsers: InvalidParameterException: Error while parsing filter.", lists: 1},
		{name: "no such group", cfg: batch.ExportConfig{Group: "nope"}, err: "ListUsersInGroup: ResourceNotFoundException: Group not found.", lists: 1},
		{name: "credentials refused on a read", fault: func(op string, _ int, user string) error {
			if user == "user070" {
				return apiErr("AccessDeniedException", "not allowed")
			}
			return nil
		}, rows: 69, err: `AdminGetUser of user "user070": AccessDeniedException: not allowed`},
		{name: "listing gives up", fault: func(op string, n int, _ string) error {
			if op == "ListUsers" && n >= 2 {
				return apiErr("InternalErrorException", "down")
			}
			return nil
		}, rows: 60, err: "ListUsers: InternalErrorException: down (5 attempts)", lists: 6, reads: 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePool(130)
			f.fault = tc.fault
			var out bytes.Buffer
			sum, err := exportTo(context.Background(), f, tc.cfg, &out, batch.FormatCSV)
			var xe *batch.ExportError
			if !errors.As(err, &xe) || err.Error() != tc.err {
				t.Fatalf("error %v, want %s", err, tc.err)
			}
			// What was written is the first rows, whole; nothing, not even
			// a header, when no row was.
			want := strings.SplitAfter(f.want(false, nil), "\n")[:tc.rows+1]
			if tc.rows == 0 {
				want = nil
			}
			if got := out.String(); got != strings.Join(want, "") {
				t.Errorf("output:\n%s\nwant the first %d rows", got, tc.rows)
			}
			if sum.Users != tc.rows || tc.lists > 0 && sum.Lists != tc.lists || tc.reads > 0 && sum.Reads != tc.reads {
				t.Errorf("summary %+v", sum)
			}
		})
	}
}

func TestExportRefusesAnswersNoPoolGives(t *testing.T) {
	secret := "AKIDEXAMPLESECRETKEY1234"
	for _, tc := range []struct {
		name string
		list func(n int) *cip.ListUsersOutput
		err  string
	}{
		{"the same token again", func(int) *cip.ListUsersOutput {
			return &cip.ListUsersOutput{PaginationToken: aws.String("again"), Users: []types.UserType{{Username: aws.String("u1")}}}
		}, "listing would never end"},
		{"a user with no name", func(int) *cip.ListUsersOutput {
			return &cip.ListUsersOutput{Users: []types.UserType{{Username: aws.String("u1")}, {}}}
		}, "no Cognito username"},
		{"a name with a line break", func(int) *cip.ListUsersOutput {
			return &cip.ListUsersOutput{Users: []types.UserType{{Username: aws.String("a\nb")}}}
		}, "no Cognito username"},
		{"a name quoting the credentials", func(int) *cip.ListUsersOutput {
			return &cip.ListUsersOutput{Users: []types.UserType{{Username: aws.String("x" + secret)}}}
		}, "no Cognito username"},
		{"a token quoting the credentials", func(int) *cip.ListUsersOutput {
			return &cip.ListUsersOutput{PaginationToken: aws.String(secret)}
		}, "quotes the AWS credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			c := &scriptedLister{list: func() *cip.ListUsersOutput { n++; return tc.list(n) }}
			var out bytes.Buffer
			w, _ := batch.NewManifestWriter(&out, batch.FormatCSV, true)
			x := &batch.Exporter{Client: c, Config: batch.ExportConfig{UserPoolID: "us-east-1_TEST", NoState: true,
				Secrets: func() []string { return []string{secret} }}}
			_, err := x.Run(context.Background(), w)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one saying %q", err, tc.err)
			}
			if strings.Contains(out.String(), secret[:16]) || strings.Contains(err.Error(), secret[:16]) {
				t.Errorf("the credentials are in the output or the error")
			}
			if n > 3 {
				t.Errorf("%d list calls", n)
			}
		})
	}
}

// scriptedLister answers ListUsers with list, and reads with a sub that
// quotes the credentials.
type scriptedLister struct{ list func() *cip.ListUsersOutput }

func (s *scriptedLister) ListUsers(context.Context, *cip.ListUsersInput, ...func(*cip.Options)) (*cip.ListUsersOutput, error) {
	return s.list(), nil
}

func (s *scriptedLister) ListUsersInGroup(context.Context, *cip.ListUsersInGroupInput, ...func(*cip.Options)) (*cip.ListUsersInGroupOutput, error) {
	return nil, errors.New("not scripted")
}

func (s *scriptedLister) AdminGetUser(context.Context, *cip.AdminGetUserInput, ...func(*cip.Options)) (*cip.AdminGetUserOutput, error) {
	return nil, errors.New("not scripted")
}

func TestExportWithholdsASubQuotingTheCredentials(t *testing.T) {
	secret := "AKIDEXAMPLESECRETKEY1234"
	f := newFakePool(3)
	f.users[1].sub = "leak-" + secret
	var out bytes.Buffer
	w, _ := batch.NewManifestWriter(&out, batch.FormatCSV, true)
	x := &batch.Exporter{Client: f, Config: batch.ExportConfig{UserPoolID: f.pool, Secrets: func() []string { return []string{secret} }}}
	if _, err := x.Run(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	f.users[1].sub = ""
	if got, want := out.String(), f.want(false, nil); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
}

func TestExportInterruptedEndsAfterAWholeRowInOrder(t *testing.T) {
	// More users than listing runs ahead of the writer, so that the
	// signal comes with users still to list.
	f := newFakePool(1000)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	users := 0
	onUser := func(bool) {
		if users++; users == 100 {
			cancel() // a signal while reads are in flight
		}
	}
	var out bytes.Buffer
	sum, err := exportTo(ctx, f, batch.ExportConfig{OnUser: onUser}, &out, batch.FormatCSV)
	if !errors.Is(err, context.Canceled) || !sum.Interrupted {
		t.Fatalf("error %v, summary %+v", err, sum)
	}
	want := f.want(false, nil)
	if got := out.String(); !strings.HasPrefix(want, got) || !strings.HasSuffix(got, "\n") || sum.Users < 100 || sum.Users >= 1000 {
		t.Errorf("%d users written; the output is not the export's first rows, whole:\n%s", sum.Users, got)
	}
	if n := strings.Count(out.String(), "\n") - 1; n != sum.Users {
		t.Errorf("%d rows in the output, summary says %d", n, sum.Users)
	}
	if lists := f.callsOf("ListUsers"); lists >= 1000/batch.PageSize {
		t.Errorf("%d pages listed: listing went on after the signal", lists)
	}
}

func TestExportGoesOnFromItsLastPage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		format  string
		restart bool // the token is refused: listed again from the start
	}{
		{"csv", batch.FormatCSV, false},
		{"jsonl", batch.FormatJSONL, false},
		{"token refused", batch.FormatCSV, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePool(1000)
			var full bytes.Buffer
			if _, err := exportTo(context.Background(), f, batch.ExportConfig{}, &full, tc.format); err != nil {
				t.Fatal(err)
			}
			// The first export stops partway through its third page; its
			// last line is cut short, as a kill mid-write leaves it.
			ctx, cancel := context.WithCancel(context.Background())
			users := 0
			var out bytes.Buffer
			var last batch.Page
			_, err := exportTo(ctx, f, batch.ExportConfig{
				OnPage: func(p batch.Page) error { last = p; return nil },
				OnUser: func(bool) {
					if users++; users == 130 {
						cancel()
					}
				},
			}, &out, tc.format)
			// Rows read before the signal are written, pages ends too.
			if !errors.Is(err, context.Canceled) || last.Users < 120 || last.Users%60 != 0 {
				t.Fatalf("first export: %v; last page %+v", err, last)
			}
			out.WriteString(strings.SplitAfter(full.String(), "\n")[300][:10])

			written, err := batch.ReadWritten(bytes.NewReader(out.Bytes()), tc.format)
			if err != nil {
				t.Fatal(err)
			}
			out.Truncate(int(written.Size))
			start := last.Next
			if tc.restart {
				start = "expired"
			}
			w, err := batch.ContinueManifest(&out, tc.format, true)
			if err != nil {
				t.Fatal(err)
			}
			x := &batch.Exporter{Client: f, Config: batch.ExportConfig{UserPoolID: f.pool, Start: start, Written: written.Has}}
			sum, err := x.Run(context.Background(), w)
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != full.String() {
				t.Errorf("resumed output:\n%s\nwant:\n%s", out.String(), full.String())
			}
			if sum.Restarted != tc.restart || sum.Users+written.Rows != 1000 || sum.Skipped != written.Rows-last.Users && !tc.restart || tc.restart && sum.Skipped != written.Rows {
				t.Errorf("summary %+v, %d rows written before", sum, written.Rows)
			}
		})
	}
}

func TestReadWrittenTakesWholeLinesOfAnExport(t *testing.T) {
	header := strings.Join(batch.AdminColumns, ",") + "\n"
	row := func(name string) string { return "s," + name + ",us-east-1_TEST,true,false,false,false,false,false,\n" }
	for _, tc := range []struct {
		name, in, format string
		rows             int
		size             int
		has, hasNot      string
		err              string
	}{
		{name: "whole", in: header + row("a") + row("b"), format: batch.FormatCSV, rows: 2, size: len(header + row("a") + row("b")), has: "b", hasNot: "c"},
		{name: "cut last line", in: header + row("a") + row("bcd")[:9], format: batch.FormatCSV, rows: 1, size: len(header + row("a")), has: "a", hasNot: "bcd"},
		{name: "header cut", in: header[:5], format: batch.FormatCSV, rows: 0, size: 0},
		{name: "empty", in: "", format: batch.FormatJSONL, rows: 0, size: 0},
		{name: "jsonl", in: `{"username":"a"}` + "\n" + `{"id":"x","username":"b","user_pool_id":"p"}` + "\n" + `{"user`, format: batch.FormatJSONL, rows: 2, size: 62, has: "b"},
		{name: "not an export", in: "id,access_token\n", format: batch.FormatCSV, err: "line 1 is not the header of an export"},
		{name: "a row of another shape", in: header + row("a") + "x,y\n", format: batch.FormatCSV, err: "line 3: not a row of an export"},
		{name: "a jsonl line of no user", in: `{"id":"a"}` + "\n", format: batch.FormatJSONL, err: "line 1: not a row of an export"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := batch.ReadWritten(strings.NewReader(tc.in), tc.format)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Rows != tc.rows || w.Size != int64(tc.size) {
				t.Errorf("rows %d, size %d; want %d, %d", w.Rows, w.Size, tc.rows, tc.size)
			}
			if tc.has != "" && !w.Has(tc.has) || tc.hasNot != "" && w.Has(tc.hasNot) {
				t.Errorf("Has(%q) %v, Has(%q) %v", tc.has, w.Has(tc.has), tc.hasNot, w.Has(tc.hasNot))
			}
		})
	}
}

// failingWriter fails its flushes from the nth on, as a full disk does.
type failingWriter struct {
	*batch.ManifestWriter
	n, flushes int
}

func (w *failingWriter) Flush() error {
	w.flushes++
	if w.flushes >= w.n {
		return errors.New("no space left on device")
	}
	return w.ManifestWriter.Flush()
}

func TestExportStopsWhenTheOutputCannotBeWritten(t *testing.T) {
	f := newFakePool(200)
	var out bytes.Buffer
	mw, _ := batch.NewManifestWriter(&out, batch.FormatCSV, true)
	var pages []batch.Page
	x := &batch.Exporter{Client: f, Config: batch.ExportConfig{UserPoolID: f.pool, OnPage: func(p batch.Page) error {
		pages = append(pages, p)
		return nil
	}}}
	sum, err := x.Run(context.Background(), &failingWriter{ManifestWriter: mw, n: 2})
	var oe *batch.OutputError
	if !errors.As(err, &oe) || err.Error() != "no space left on device" {
		t.Fatalf("error %v, want an OutputError", err)
	}
	// The first page was written out, and its checkpoint kept; the
	// second's rows are not counted.
	if sum.Users != 60 || len(pages) != 1 || pages[0].Users != 60 {
		t.Errorf("summary %+v, pages %+v", sum, pages)
	}
	if got, want := out.String(), strings.Join(strings.SplitAfter(f.want(false, nil), "\n")[:61], ""); got != want {
		t.Errorf("output:\n%s\nwant the first page", got)
	}

	// A checkpoint that cannot be kept stops the export too.
	out.Reset()
	mw, _ = batch.NewManifestWriter(&out, batch.FormatCSV, true)
	x.Config.OnPage = func(batch.Page) error { return errors.New("checkpoint: no space left on device") }
	if _, err := x.Run(context.Background(), mw); !errors.As(err, &oe) {
		t.Fatalf("error %v, want an OutputError", err)
	}
}
