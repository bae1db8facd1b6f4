package cognitotest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
)

// listPool seeds testPool with users of several attributes, states and
// groups.
func listPool(t *testing.T, srv *Server) {
	t.Helper()
	attrs := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	mustAdd(t, srv,
		User{Pool: testPool, Username: "ann", Attributes: attrs("email", "ann@example.com", "given_name", "Ann", "family_name", "Lee"),
			Groups: []string{"admins", "staff"}, MFA: []string{"SMS_MFA"}, Preferred: "SMS_MFA"},
		User{Pool: testPool, Username: "abe", Attributes: attrs("email", "abe@example.org", "phone_number", "+15550001", "name", "Abe Lee"),
			Groups: []string{"staff"}},
		User{Pool: testPool, Username: "bea", Attributes: attrs("email", "bea@example.com", "preferred_username", "b\"q"),
			Status: "UNCONFIRMED"},
		User{Pool: testPool, Username: "cal", Attributes: attrs("email", "cal@example.com", "sub", "sub-cal"), Disabled: true,
			Groups: []string{"staff"}},
		User{Pool: testPool, Username: "dan", Attributes: attrs("phone_number", "+15550002")},
		User{Pool: testPool, Username: "eli", Groups: []string{"staff"}},
		User{Pool: testPool, Username: "fox", Attributes: attrs("email", "fox@example.com"), Status: "RESET_REQUIRED"},
		User{Pool: "us-east-1_Other1", Username: "zed"},
	)
}

// listNames lists testPool with the SDK's paginator, filter and limit,
// and returns the names page by page.
func listNames(t *testing.T, c *cip.Client, filter string, limit int32) ([][]string, error) {
	t.Helper()
	in := &cip.ListUsersInput{UserPoolId: aws.String(testPool), Limit: aws.Int32(limit)}
	if filter != "" {
		in.Filter = aws.String(filter)
	}
	p := cip.NewListUsersPaginator(c, in)
	return pageNames(p.HasMorePages, func() ([]types.UserType, error) {
		out, err := p.NextPage(context.Background())
		if err != nil {
			return nil, err
		}
		return out.Users, nil
	})
}

// pageNames collects the user names of each page a paginator gives.
func pageNames(more func() bool, next func() ([]types.UserType, error)) ([][]string, error) {
	var pages [][]string
	for more() {
		users, err := next()
		if err != nil {
			return pages, err
		}
		var names []string
		for _, u := range users {
			names = append(names, aws.ToString(u.Username))
		}
		pages = append(pages, names)
	}
	return pages, nil
}

// ListUsers pages through a pool in name order, Limit users a page.
func TestListUsersPages(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	listPool(t, srv)
	c := newAdminClient(srv, "us-east-1", TestCredentials)
	pages, err := listNames(t, c, "", 3)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"abe", "ann", "bea"}, {"cal", "dan", "eli"}, {"fox"}}
	if !reflect.DeepEqual(pages, want) {
		t.Errorf("pages %v, want %v", pages, want)
	}
	if got := srv.Counts()["ListUsers"]; got != 3 {
		t.Errorf("%d ListUsers calls, want 3", got)
	}
	// Six users, two pages of three: the last page has no token.
	pages, err = listNames(t, c, `email ^= ""`, 3)
	if want := [][]string{{"abe", "ann", "bea"}, {"cal", "fox"}}; err != nil || !reflect.DeepEqual(pages, want) {
		t.Errorf("pages %v (%v), want %v", pages, err, want)
	}
	// No Limit is 60.
	if err := srv.AddUsers(Generated(testPool, 100)); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListUsers(context.Background(), &cip.ListUsersInput{UserPoolId: aws.String(testPool)})
	if err != nil {
		t.Fatalf("ListUsers with no Limit: %v", err)
	}
	if len(out.Users) != 60 || out.PaginationToken == nil {
		t.Errorf("ListUsers with no Limit: %d users, token %v, %v; want 60 and a token", len(out.Users), out.PaginationToken, err)
	}
}

// A listed user carries its attributes, status and Enabled, and no MFA
// state, as Cognito lists users.
func TestListUsersShape(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	listPool(t, srv)
	body := rawCall(t, srv, "ListUsers", `{"UserPoolId":"`+testPool+`","Filter":"username = \"cal\""}`)
	users := body["Users"].([]any)
	if len(users) != 1 || body["PaginationToken"] != nil {
		t.Fatalf("answer %v, want cal alone and no token", body)
	}
	cal := users[0].(map[string]any)
	want := map[string]any{"Username": "cal", "Enabled": false, "UserStatus": "CONFIRMED",
		"Attributes": []any{map[string]any{"Name": "email", "Value": "cal@example.com"}, map[string]any{"Name": "sub", "Value": "sub-cal"}}}
	for k, v := range want {
		if !reflect.DeepEqual(cal[k], v) {
			t.Errorf("%s = %v, want %v", k, cal[k], v)
		}
	}
	for k := range cal {
		if strings.Contains(k, "MFA") || strings.Contains(k, "Mfa") {
			t.Errorf("a listed user has %s", k)
		}
	}
	out, err := newAdminClient(srv, "us-east-1", TestCredentials).ListUsers(context.Background(),
		&cip.ListUsersInput{UserPoolId: aws.String(testPool), AttributesToGet: []string{"email", "given_name"}, Limit: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	var got [][]types.AttributeType
	for _, u := range out.Users {
		got = append(got, u.Attributes)
	}
	wantAttrs := [][]types.AttributeType{{{Name: aws.String("email"), Value: aws.String("abe@example.org")}},
		{{Name: aws.String("email"), Value: aws.String("ann@example.com")}, {Name: aws.String("given_name"), Value: aws.String("Ann")}}}
	if !reflect.DeepEqual(got, wantAttrs) {
		t.Errorf("AttributesToGet email, given_name: %v", got)
	}
}

func TestListUsersFilter(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	listPool(t, srv)
	c := newAdminClient(srv, "us-east-1", TestCredentials)
	tests := []struct {
		filter string
		want   []string
	}{
		{`username = "ann"`, []string{"ann"}},
		{`username = "An"`, nil},
		{`username ^= "a"`, []string{"abe", "ann"}},
		{`email ^= "a"`, []string{"abe", "ann"}},
		{`email = "bea@example.com"`, []string{"bea"}},
		{`phone_number ^= "+1555"`, []string{"abe", "dan"}},
		{`name = "Abe Lee"`, []string{"abe"}},
		{`given_name = "Ann"`, []string{"ann"}},
		{`family_name = "Lee"`, []string{"ann"}},
		{`preferred_username = "b\"q"`, []string{"bea"}},
		{`cognito:user_status = "unconfirmed"`, []string{"bea"}},
		{`cognito:user_status ^= "RESET"`, []string{"fox"}},
		{`status = "Disabled"`, []string{"cal"}},
		{`status = "disabled"`, nil},
		{`sub = "sub-cal"`, []string{"cal"}},
		{`  email="fox@example.com"  `, []string{"fox"}},
		{``, []string{"abe", "ann", "bea", "cal", "dan", "eli", "fox"}},
	}
	for _, tt := range tests {
		pages, err := listNames(t, c, tt.filter, 60)
		if err != nil {
			t.Errorf("filter %s: %v", tt.filter, err)
			continue
		}
		if got := slices.Concat(pages...); !slices.Equal(got, tt.want) {
			t.Errorf("filter %s: %v, want %v", tt.filter, got, tt.want)
		}
	}
	// A filter pages as the pool does.
	pages, err := listNames(t, c, `email ^= ""`, 2)
	if want := [][]string{{"abe", "ann"}, {"bea", "cal"}, {"fox"}}; err != nil || !reflect.DeepEqual(pages, want) {
		t.Errorf("email ^= \"\" by 2: %v (%v), want %v", pages, err, want)
	}
}

// A malformed filter, or one on an attribute ListUsers cannot search, is
// refused as Cognito refuses it.
func TestListUsersBadFilter(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	listPool(t, srv)
	c := newAdminClient(srv, "us-east-1", TestCredentials)
	for filter, message := range map[string]string{
		`custom:team = "a"`:       "Invalid search attribute: custom:team",
		`email_verified = "true"`: "Invalid search attribute: email_verified",
		`username = foo`:          "Error while parsing filter.",
		`username=`:               "Error while parsing filter.",
		`email ~= "a"`:            "Error while parsing filter.",
		`email = "a" or "b"`:      "Error while parsing filter.",
		`= "a"`:                   "Error while parsing filter.",
		`email = "a`:              "Error while parsing filter.",
		`email`:                   "Error while parsing filter.",
		`"email" = "a"`:           "Error while parsing filter.",
	} {
		_, err := listNames(t, c, filter, 60)
		if errorCode(err) != "InvalidParameterException" || !strings.Contains(err.Error(), message) {
			t.Errorf("filter %s: %v, want InvalidParameterException %q", filter, err, message)
		}
	}
}

// A listing of a pool that does not exist, a Limit out of range, or a
// pagination token the server did not give for the same listing, is
// refused; a bad Limit before any decider hears of it.
func TestListUsersRefused(t *testing.T) {
	var decided atomic.Int32
	srv := NewServer(func(Call) Reply { decided.Add(1); return Reply{} })
	defer srv.Close()
	listPool(t, srv)
	c := newAdminClient(srv, "us-east-1", TestCredentials)
	list := func(in cip.ListUsersInput) error {
		in.UserPoolId = cmpOr(in.UserPoolId, aws.String(testPool))
		_, err := c.ListUsers(context.Background(), &in)
		return err
	}
	for _, limit := range []int32{0, 61, -1} {
		err := list(cip.ListUsersInput{Limit: aws.Int32(limit)})
		if errorCode(err) != "InvalidParameterException" || !strings.Contains(err.Error(), "at 'limit' failed to satisfy constraint") {
			t.Errorf("Limit %d: %v", limit, err)
		}
	}
	if n := decided.Load(); n != 0 {
		t.Errorf("the decider heard of %d calls with a bad Limit", n)
	}
	if err := list(cip.ListUsersInput{UserPoolId: aws.String("us-east-1_Gone1")}); errorCode(err) != "ResourceNotFoundException" ||
		!strings.Contains(err.Error(), "User pool us-east-1_Gone1 does not exist.") {
		t.Errorf("unknown pool: %v", err)
	}
	first, err := c.ListUsers(context.Background(), &cip.ListUsersInput{UserPoolId: aws.String(testPool), Limit: aws.Int32(2), Filter: aws.String(`email ^= ""`)})
	if err != nil || first.PaginationToken == nil {
		t.Fatalf("first page: %v, %v", first, err)
	}
	token := *first.PaginationToken
	tampered := []byte(token)
	tampered[len(tampered)/2] ^= 1
	// A token made by another than the server: well-formed, but not signed
	// with its key.
	forged := base64.RawURLEncoding.EncodeToString(append(marshal(cursor{Pool: testPool, Filter: `email ^= ""`, After: "aaa"}), make([]byte, macSize)...))
	for name, in := range map[string]cip.ListUsersInput{
		"garbage":        {PaginationToken: aws.String("not a token"), Filter: aws.String(`email ^= ""`)},
		"tampered":       {PaginationToken: aws.String(string(tampered)), Filter: aws.String(`email ^= ""`)},
		"forged":         {PaginationToken: aws.String(forged), Filter: aws.String(`email ^= ""`)},
		"another filter": {PaginationToken: aws.String(token)},
		"another pool":   {PaginationToken: aws.String(token), Filter: aws.String(`email ^= ""`), UserPoolId: aws.String("us-east-1_Other1")},
	} {
		if err := list(in); errorCode(err) != "InvalidParameterException" || !strings.Contains(err.Error(), "pagination token") {
			t.Errorf("%s token: %v, want InvalidParameterException", name, err)
		}
	}
	if err := list(cip.ListUsersInput{PaginationToken: aws.String(token), Filter: aws.String(`email ^= ""`), Limit: aws.Int32(2)}); err != nil {
		t.Errorf("the token itself: %v", err)
	}
}

func cmpOr(a, b *string) *string {
	if a != nil {
		return a
	}
	return b
}

// A page token names the last user given: users added before it are not
// listed again, users added after it are.
func TestListUsersWhileAdding(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	listPool(t, srv)
	c := newAdminClient(srv, "us-east-1", TestCredentials)
	first, err := c.ListUsers(context.Background(), &cip.ListUsersInput{UserPoolId: aws.String(testPool), Limit: aws.Int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, srv, User{Pool: testPool, Username: "aaa"}, User{Pool: testPool, Username: "ccc"})
	next, err := c.ListUsers(context.Background(), &cip.ListUsersInput{UserPoolId: aws.String(testPool), Limit: aws.Int32(3), PaginationToken: first.PaginationToken})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range next.Users {
		names = append(names, aws.ToString(u.Username))
	}
	if want := []string{"cal", "ccc", "dan"}; !slices.Equal(names, want) {
		t.Errorf("second page %v, want %v", names, want)
	}
}

func TestListUsersInGroup(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	listPool(t, srv)
	if err := srv.AddGroup(testPool, "empty"); err != nil {
		t.Fatal(err)
	}
	c := newAdminClient(srv, "us-east-1", TestCredentials)
	group := func(name string, limit int32) ([][]string, error) {
		p := cip.NewListUsersInGroupPaginator(c, &cip.ListUsersInGroupInput{UserPoolId: aws.String(testPool), GroupName: aws.String(name), Limit: aws.Int32(limit)})
		return pageNames(p.HasMorePages, func() ([]types.UserType, error) {
			out, err := p.NextPage(context.Background())
			if err != nil {
				return nil, err
			}
			return out.Users, nil
		})
	}
	pages, err := group("staff", 2)
	if want := [][]string{{"abe", "ann"}, {"cal", "eli"}}; err != nil || !reflect.DeepEqual(pages, want) {
		t.Errorf("staff by 2: %v (%v), want %v", pages, err, want)
	}
	if pages, err := group("empty", 60); err != nil || !reflect.DeepEqual(pages, [][]string{nil}) {
		t.Errorf("empty: %v (%v), want one empty page", pages, err)
	}
	if _, err := group("nobody", 60); errorCode(err) != "ResourceNotFoundException" || !strings.Contains(err.Error(), "Group not found.") {
		t.Errorf("unknown group: %v", err)
	}
	_, err = c.ListUsersInGroup(context.Background(), &cip.ListUsersInGroupInput{UserPoolId: aws.String("us-east-1_Gone1"), GroupName: aws.String("staff")})
	if errorCode(err) != "ResourceNotFoundException" {
		t.Errorf("unknown pool: %v", err)
	}
	_, err = c.ListUsersInGroup(context.Background(), &cip.ListUsersInGroupInput{UserPoolId: aws.String(testPool), GroupName: aws.String("staff"), Limit: aws.Int32(61)})
	if errorCode(err) != "InvalidParameterException" {
		t.Errorf("Limit 61: %v", err)
	}
	// The body says NextToken, as the service's does, and no PaginationToken.
	body := rawCall(t, srv, "ListUsersInGroup", `{"UserPoolId":"`+testPool+`","GroupName":"staff","Limit":1}`)
	if _, ok := body["NextToken"].(string); !ok || body["PaginationToken"] != nil {
		t.Errorf("answer %v", body)
	}
}

// The new admin operations are refused without a good signature, as the
// admin write is, before any decider hears of them or any user is read.
func TestNewAdminOpsSigned(t *testing.T) {
	wrong := TestCredentials
	wrong.SecretAccessKey = strings.Repeat("x", 40)
	var decided atomic.Int32
	srv := NewServer(func(Call) Reply { decided.Add(1); return Reply{} })
	defer srv.Close()
	listPool(t, srv)
	for _, tt := range []struct {
		region string
		creds  aws.Credentials
		code   string
	}{
		{"us-east-1", wrong, "InvalidSignatureException"},
		{"eu-west-1", TestCredentials, "InvalidSignatureException"},
		{"us-east-1", TestExpiredCredentials, "ExpiredTokenException"},
	} {
		c := newAdminClient(srv, tt.region, tt.creds)
		_, err1 := adminGet(t, c, "ann")
		_, err2 := c.ListUsers(context.Background(), &cip.ListUsersInput{UserPoolId: aws.String(testPool)})
		_, err3 := c.ListUsersInGroup(context.Background(), &cip.ListUsersInGroupInput{UserPoolId: aws.String(testPool), GroupName: aws.String("staff")})
		for op, err := range map[string]error{"AdminGetUser": err1, "ListUsers": err2, "ListUsersInGroup": err3} {
			if errorCode(err) != tt.code {
				t.Errorf("%s signed by %s for %s: %v, want %s", op, tt.creds.AccessKeyID, tt.region, err, tt.code)
			}
		}
	}
	if n := decided.Load(); n != 0 {
		t.Errorf("the decider heard of %d refused calls", n)
	}
	for _, c := range srv.Calls() {
		if c.Verified {
			t.Errorf("call %d (%s) verified", c.N, c.Op)
		}
	}
}

// An unsigned admin read is refused with MissingAuthenticationToken.
func TestNewAdminOpsUnsigned(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	for _, op := range []string{"AdminGetUser", "ListUsers", "ListUsersInGroup"} {
		req := signedOp(t, srv, op, `{"UserPoolId":"`+testPool+`","Username":"ann","GroupName":"staff"}`, time.Now(), "cognito-idp")
		req.Header.Del("Authorization")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body apiErrorBody
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || body.Type != "MissingAuthenticationTokenException" {
			t.Errorf("%s unsigned: %d %s", op, resp.StatusCode, body.Type)
		}
	}
}
