package cognitotest

import (
	"context"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
)

// aliceToken is a token of alice of testPool.
var aliceToken = Token(Claims{Username: "alice", PoolID: testPool})

// everyOp calls each operation once, for alice of testPool (by
// aliceToken), and returns each call's error code ("" for success) by
// operation.
func everyOp(t *testing.T, srv *Server) map[string]string {
	t.Helper()
	ctx := context.Background()
	admin, tok := newAdminClient(srv, "us-east-1", TestCredentials), newClient(srv)
	token := aliceToken
	pool := aws.String(testPool)
	_, errSet := setMFA(ctx, tok, token)
	errAdminSet := adminSet(admin, "alice", cip.AdminSetUserMFAPreferenceInput{SMSMfaSettings: sms(true, false)})
	_, errGet := tok.GetUser(ctx, &cip.GetUserInput{AccessToken: aws.String(token)})
	_, errAdminGet := adminGet(t, admin, "alice")
	_, errList := admin.ListUsers(ctx, &cip.ListUsersInput{UserPoolId: pool})
	_, errGroup := admin.ListUsersInGroup(ctx, &cip.ListUsersInGroupInput{UserPoolId: pool, GroupName: aws.String("staff")})
	return map[string]string{
		"SetUserMFAPreference": errorCode(errSet), "AdminSetUserMFAPreference": errorCode(errAdminSet),
		"GetUser": errorCode(errGet), "AdminGetUser": errorCode(errAdminGet),
		"ListUsers": errorCode(errList), "ListUsersInGroup": errorCode(errGroup),
	}
}

// ByOp answers by operation first, then by category, then as next does.
func TestByOp(t *testing.T) {
	srv := NewServer(ByOp(map[string]func(Call) Reply{
		UserRead:    func(Call) Reply { return Reply{Fault: Throttle} },
		"ListUsers": func(Call) Reply { return Reply{Fault: Internal} },
		"GetUser":   UserNotFound,
	}, func(c Call) Reply {
		if c.Op == "ListUsersInGroup" {
			return Reply{Fault: APIError, Code: "ForbiddenException"}
		}
		return Reply{}
	}))
	defer srv.Close()
	mustAdd(t, srv, User{Pool: testPool, Username: "alice", Groups: []string{"staff"}})
	want := map[string]string{
		"SetUserMFAPreference": "", "AdminSetUserMFAPreference": "",
		"GetUser": "UserNotFoundException", "AdminGetUser": "TooManyRequestsException",
		"ListUsers": "InternalErrorException", "ListUsersInGroup": "ForbiddenException",
	}
	if got := everyOp(t, srv); !reflect.DeepEqual(got, want) {
		t.Errorf("answers %v, want %v", got, want)
	}
	if Category("ListUsersInGroup") != UserList || Category("AdminSetUserMFAPreference") != UserUpdate || Category("Nope") != "" {
		t.Error("Category misplaces an operation")
	}
}

// Each operation's attempts are counted apart: a read's first attempt is
// its own, whatever writes came before; a listing's page is its user.
func TestAttemptsByOp(t *testing.T) {
	srv := NewServer(FailAttempts(1, Throttle))
	defer srv.Close()
	mustAdd(t, srv, User{Pool: testPool, Username: "alice", Groups: []string{"staff"}})
	first := everyOp(t, srv)
	second := everyOp(t, srv)
	for op := range ops {
		if first[op] != "TooManyRequestsException" || second[op] != "" {
			t.Errorf("%s: first attempt %q, second %q; want throttled, then success", op, first[op], second[op])
		}
	}
}

// A Quota per category: reads run out of theirs while writes go on.
func TestQuotaByCategory(t *testing.T) {
	srv := NewServer(ByOp(map[string]func(Call) Reply{UserRead: NewQuota(0.001, 2).Decide}, nil))
	defer srv.Close()
	c := newAdminClient(srv, "us-east-1", TestCredentials)
	var got []string
	for range 3 {
		_, err := adminGet(t, c, "alice")
		got = append(got, errorCode(err), errorCode(adminSet(c, "alice", cip.AdminSetUserMFAPreferenceInput{SMSMfaSettings: sms(true, false)})))
	}
	if want := []string{"", "", "", "", "TooManyRequestsException", ""}; !reflect.DeepEqual(got, want) {
		t.Errorf("read, write ×3: %q, want the third read throttled alone", got)
	}
}

// Counts and MaxInWindowOf count every operation's calls, kept or not.
func TestCountsByOp(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	mustAdd(t, srv, User{Pool: testPool, Username: "alice", Groups: []string{"staff"}})
	everyOp(t, srv)
	srv.KeepCalls(false)
	everyOp(t, srv)
	_, _ = newAdminClient(srv, "us-east-1", TestCredentials).AdminGetUser(context.Background(),
		&cip.AdminGetUserInput{UserPoolId: aws.String(testPool), Username: aws.String("bob")})
	want := map[string]int{}
	for op := range ops {
		want[op] = 2
	}
	want["AdminGetUser"] = 3
	if got := srv.Counts(); !maps.Equal(got, want) {
		t.Errorf("Counts() = %v, want %v", got, want)
	}
	if n := len(srv.Calls()); n != 6 {
		t.Errorf("%d calls kept, want the 6 before KeepCalls(false)", n)
	}
	for _, tt := range []struct {
		ops  []string
		want int
	}{
		{[]string{UserRead}, 5},
		{[]string{"AdminGetUser"}, 3},
		{[]string{"ListUsers", UserUpdate}, 6},
		{[]string{"Nope"}, 0},
	} {
		if got := srv.MaxInWindowOf(time.Hour, tt.ops...); got != tt.want {
			t.Errorf("MaxInWindowOf(1h, %v) = %d, want %d", tt.ops, got, tt.want)
		}
	}
	if got := srv.MaxInWindow(time.Hour); got != 13 {
		t.Errorf("MaxInWindow(1h) = %d, want all 13", got)
	}
}

// KeepCalls(false) still numbers attempts, so FailAttempts still works.
func TestKeepCallsAttempts(t *testing.T) {
	srv := NewServer(FailAttempts(1, Throttle))
	defer srv.Close()
	srv.KeepCalls(false)
	c := newAdminClient(srv, "us-east-1", TestCredentials)
	_, err1 := adminGet(t, c, "alice")
	_, err2 := adminGet(t, c, "alice")
	if errorCode(err1) != "TooManyRequestsException" || err2 != nil {
		t.Errorf("attempts: %v, then %v; want throttled, then success", err1, err2)
	}
}
