package cognitotest

import (
	"maps"
	"slices"
	"time"
)

// The quota categories of the service, which group its operations: an
// account's quota is per category and region.
const (
	UserUpdate = "UserUpdate" // SetUserMFAPreference, AdminSetUserMFAPreference
	UserRead   = "UserRead"   // GetUser, AdminGetUser
	UserList   = "UserList"   // ListUsers, ListUsersInGroup
)

// opSpec is what the server knows of an operation it answers.
type opSpec struct {
	category string
	// admin calls are signed with IAM credentials; the others carry an
	// access token.
	admin bool
	// members are the request's required members, named as the service's
	// messages name them.
	members []string
}

// ops are the operations the server answers; any other target is an
// UnknownOperationException, as the service answers it.
var ops = map[string]opSpec{
	"SetUserMFAPreference":      {UserUpdate, false, []string{"accessToken"}},
	"AdminSetUserMFAPreference": {UserUpdate, true, []string{"userPoolId", "username"}},
	"GetUser":                   {UserRead, false, []string{"accessToken"}},
	"AdminGetUser":              {UserRead, true, []string{"userPoolId", "username"}},
	"ListUsers":                 {UserList, true, []string{"userPoolId"}},
	"ListUsersInGroup":          {UserList, true, []string{"groupName", "userPoolId"}},
}

// opNames are the operations in a fixed order: an arrival records its
// operation as an index into it, 0 for one the server does not answer.
var opNames = append([]string{""}, slices.Sorted(maps.Keys(ops))...)

// Category returns the quota category of op (UserUpdate, UserRead or
// UserList), or "" when the server does not answer op.
func Category(op string) string { return ops[op].category }

// ByOp returns a decider that answers a call as answers says for its
// operation, such as "ListUsers", or else for its operation's category,
// such as UserRead; calls of operations answers names neither way get
// next(c) (success when next is nil). It is how a test throttles reads
// alone, or gives each category a Quota of its own:
//
//	ByOp(map[string]func(Call) Reply{
//		UserUpdate: NewQuota(25, 25).Decide,
//		UserRead:   NewQuota(120, 120).Decide,
//		"ListUsers": FailAttempts(1, Throttle),
//	}, nil)
func ByOp(answers map[string]func(Call) Reply, next func(Call) Reply) func(Call) Reply {
	return func(c Call) Reply {
		answer, ok := answers[c.Op]
		if !ok {
			answer, ok = answers[Category(c.Op)]
		}
		switch {
		case ok:
			return answer(c)
		case next != nil:
			return next(c)
		}
		return Reply{}
	}
}

// arrival is the little the server keeps of every call, even when it
// keeps no Call (see KeepCalls): when it came and its operation.
type arrival struct {
	at time.Duration // since the server started, by the monotonic clock
	op uint8         // index into opNames
}

func opIndex(op string) uint8 {
	if i := slices.Index(opNames, op); i > 0 {
		return uint8(i)
	}
	return 0
}

// KeepCalls says whether the server keeps each Call, its body included,
// for Calls (it does from the start). A benchmark of many calls turns it
// off to keep the server's memory flat; Counts and MaxInWindow go on
// counting every call, and attempts are still numbered.
func (s *Server) KeepCalls(keep bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keep = keep
}

// Counts returns how many calls of each operation the server has
// received, by operation name; calls of operations it does not answer
// are counted under "".
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	counts := map[string]int{}
	for _, a := range s.arrivals {
		counts[opNames[a.op]]++
	}
	return counts
}

// MaxInWindowOf is MaxInWindow over the calls of the named operations, or
// of the named categories' operations, alone: MaxInWindowOf(time.Second,
// UserRead) is the most reads the server had in any second.
func (s *Server) MaxInWindowOf(d time.Duration, opsOrCategories ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var times []time.Duration
	for _, a := range s.arrivals {
		op := opNames[a.op]
		if slices.Contains(opsOrCategories, op) || slices.Contains(opsOrCategories, Category(op)) {
			times = append(times, a.at)
		}
	}
	return maxInWindow(len(times), func(i int) time.Time { return s.started.Add(times[i]) }, d)
}
