package main

// The script commands about the fake Cognito's users, and the operations
// calls, waitfor calls and fail name (see the top of main_test.go).

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
	"github.com/rogpeppe/go-internal/testscript"
)

// opGroups are the names scripts give sets of operations.
var opGroups = map[string][]string{
	"writes": {"SetUserMFAPreference", "AdminSetUserMFAPreference"},
	"reads":  {"GetUser", "AdminGetUser"},
	"lists":  {"ListUsers", "ListUsersInGroup"},
}

func init() {
	opGroups["all"] = slices.Concat(opGroups["writes"], opGroups["reads"], opGroups["lists"])
}

// parseOps reads OP[,OP...]: operation names, or writes, reads, lists and
// all.
func parseOps(ts *testscript.TestScript, spec string) []string {
	var ops []string
	for name := range strings.SplitSeq(spec, ",") {
		switch group, ok := opGroups[name]; {
		case ok:
			ops = append(ops, group...)
		case cognitotest.Category(name) != "":
			ops = append(ops, name)
		default:
			ts.Fatalf("%q is no operation of the endpoint, nor writes, reads, lists or all", name)
		}
	}
	return ops
}

// fresh returns the calls of the operations of which counts the calls
// command has not counted yet, in order of arrival.
func (s *script) fresh(counts func(op string) bool) []cognitotest.Call {
	n := map[string]int{}
	var calls []cognitotest.Call
	for _, c := range s.srv.Calls() {
		n[c.Op]++
		if counts(c.Op) && n[c.Op] > s.seen[c.Op] {
			calls = append(calls, c)
		}
	}
	return calls
}

// take returns fresh calls of ops, and counts them as counted.
func (s *script) take(ops []string) []cognitotest.Call {
	calls := s.fresh(func(op string) bool { return slices.Contains(ops, op) })
	for _, c := range calls {
		s.seen[c.Op]++
	}
	return calls
}

// callsArgs reads the calls command's flags: the operations it counts
// (nil when it names none) and how it shows them.
func callsArgs(ts *testscript.TestScript, args []string) (ops []string, show string, rest []string) {
	for len(args) > 1 {
		switch args[0] {
		case "-op":
			ops, args = parseOps(ts, args[1]), args[2:]
		case "-bodies", "-arrival", "-signed", "-byop":
			show, args = args[0], args[1:]
		default:
			return ops, show, args
		}
	}
	return ops, show, args
}

// countedOps are the operations the calls command counts: those it names,
// else every one for -byop, else the writes, when no other call is left
// uncounted (so that a run's every call is accounted for).
func (s *script) countedOps(ts *testscript.TestScript, ops []string, show string) []string {
	switch {
	case ops != nil:
		return ops
	case show == "-byop":
		return opGroups["all"]
	}
	writes := opGroups["writes"]
	if other := s.fresh(func(op string) bool { return !slices.Contains(writes, op) }); len(other) > 0 {
		ts.Fatalf("call %d is %q, not a write: count it with calls -op first", other[0].N, other[0].Op)
	}
	return writes
}

// failing is a fail command's fault: the next n calls of ops get it.
type failing struct {
	ops   []string
	fault cognitotest.Fault
	n     int
}

var failKinds = map[string]cognitotest.Fault{
	"throttle": cognitotest.Throttle, "internal": cognitotest.Internal, "unavailable": cognitotest.ServerError,
	"reset": cognitotest.Reset, "stall": cognitotest.Stall,
}

// cmdFail makes the next N calls of some operations fail: fail OPS KIND N.
func cmdFail(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	kinds := slices.Sorted(maps.Keys(failKinds))
	if neg || len(args) != 3 {
		ts.Fatalf("usage: fail OP[,OP...] %s N", strings.Join(kinds, "|"))
	}
	f, ok := failKinds[args[1]]
	n, err := strconv.Atoi(args[2])
	if !ok || err != nil || n < 1 {
		ts.Fatalf("fail: want a fault (%s) and a number of calls, not %q %q", strings.Join(kinds, ", "), args[1], args[2])
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = append(s.failing, &failing{parseOps(ts, args[0]), f, n})
}

// decide answers a call as the fail commands say while they last, and as
// the user's name says after.
func (s *script) decide(c cognitotest.Call) cognitotest.Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.failing {
		if f.n > 0 && slices.Contains(f.ops, c.Op) {
			f.n--
			return cognitotest.Reply{Fault: f.fault}
		}
	}
	return decide(c)
}

// cmdUsers seeds and shows the endpoint's users.
func cmdUsers(ts *testscript.TestScript, neg bool, args []string) {
	switch {
	case neg || len(args) < 2:
	case args[0] == "add" && len(args) == 3:
		addUsers(ts, args[1], args[2])
		return
	case args[0] == "show":
		showUsers(ts, args[1], args[2:])
		return
	}
	ts.Fatalf("usage: users add POOL FILE | users show POOL [USERNAME...]")
}

// userColumns are the columns of a users file that are no attribute.
var userColumns = []string{"username", "mfa", "state", "preferred", "groups", "status", "enabled", "passkey"}

// addUsers adds the users of a CSV file to pool (made even when the file
// has no rows): a header, then a row a user. username is required; mfa
// (or state) is the state as the report writes it, such as "sms,totp*",
// or factor names (sms, totp, email, or as UserMFASettingList names
// them) separated by spaces or semicolons, * on the preferred one;
// preferred names the preferred factor instead of a *; groups are
// separated by spaces or semicolons; status is a UserStatus; enabled and
// passkey are booleans (true and false by default); any other column is
// an attribute, left unset when its cell is blank.
func addUsers(ts *testscript.TestScript, pool, file string) {
	recs, err := csv.NewReader(strings.NewReader(ts.ReadFile(file))).ReadAll()
	if err != nil || len(recs) == 0 || !slices.Contains(recs[0], "username") {
		ts.Fatalf("users add: %s: want CSV with a header naming username (%v)", file, err)
	}
	s := state(ts)
	ts.Check(s.srv.AddPool(pool))
	for i, rec := range recs[1:] {
		u := cognitotest.User{Pool: pool, Attributes: map[string]string{}}
		for j, col := range recs[0] {
			if err := setUserField(&u, strings.TrimSpace(col), strings.TrimSpace(rec[j])); err != nil {
				ts.Fatalf("users add: %s: row %d: %s: %v", file, i+1, col, err)
			}
		}
		ts.Check(s.srv.AddUser(u))
	}
}

// setUserField sets a users file's column of u.
func setUserField(u *cognitotest.User, col, v string) error {
	var err error
	switch col {
	case "username":
		u.Username = v
	case "mfa", "state":
		var preferred string
		u.MFA, preferred, err = parseMFA(v)
		u.Preferred = cmp.Or(preferred, u.Preferred)
	case "preferred":
		var names []string
		if names, _, err = parseMFA(v); err == nil && len(names) > 1 {
			err = fmt.Errorf("%q: one factor at most", v)
		}
		if len(names) == 1 {
			u.Preferred = names[0]
		}
	case "groups":
		u.Groups = strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ';' })
	case "status":
		u.Status = v
	case "enabled", "passkey":
		b, perr := batch.ParseBool(v)
		err = perr
		if col == "enabled" {
			u.Disabled = b == batch.False
		} else {
			u.Passkey = b == batch.True
		}
	default:
		if v != "" {
			u.Attributes[col] = v
		}
	}
	return err
}

// factorShort are the report's names of the factors, by
// UserMFASettingList's.
var factorShort = map[string]string{"SMS_MFA": "sms", "SOFTWARE_TOKEN_MFA": "totp", "EMAIL_OTP": "email"}

// parseMFA reads factors separated by commas, spaces or semicolons, by
// either name, one of them starred as preferred; "none" or "" is none.
func parseMFA(v string) (names []string, preferred string, err error) {
	for f := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ',' || r == ' ' || r == ';' }) {
		if f == "none" {
			continue
		}
		short, star := strings.CutSuffix(f, "*")
		name := ""
		for api, s := range factorShort {
			if short == s || short == api {
				name = api
			}
		}
		switch {
		case name == "":
			return nil, "", fmt.Errorf("%q is no factor (sms, totp, email)", f)
		case star && preferred != "":
			return nil, "", fmt.Errorf("%q prefers two factors", v)
		case star:
			preferred = name
		}
		names = append(names, name)
	}
	return names, preferred, nil
}

// showUsers prints "USERNAME STATE" for the named users of pool, or all of
// them, by name: STATE as the report's before and after columns write it
// (none for no factor), followed by +passkey when passkeys are enabled;
// "-" for a user the endpoint does not have.
func showUsers(ts *testscript.TestScript, pool string, names []string) {
	s := state(ts)
	users := s.srv.Users(pool)
	if len(names) > 0 {
		users = users[:0]
		for _, name := range slices.Sorted(slices.Values(names)) {
			u, ok := s.srv.User(pool, name)
			if !ok {
				u.Username = name
			}
			users = append(users, u)
		}
	}
	for _, u := range users {
		line := u.Username + " -"
		if u.Pool != "" {
			line = u.Username + " " + batch.StateOf(u.MFA, aws.String(u.Preferred)).String()
		}
		if u.Passkey {
			line += " +passkey"
		}
		fmt.Fprintln(ts.Stdout(), line)
	}
}
