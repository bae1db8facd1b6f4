package cognitotest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
)

// A listing's Limit: from 1 to 60 users a page, 60 when absent.
const minLimit, maxLimit = 1, 60

// listRequest is what a listing asks, besides its pool, group and page
// (which inspect reads into the Call).
type listRequest struct {
	Filter          *string
	AttributesToGet []string
	Limit           *int64
}

// listedUser is a user in a listing's answer: no MFA state, as Cognito
// lists none.
type listedUser struct {
	Username             string      `json:"Username"`
	Attributes           []attribute `json:"Attributes"`
	Enabled              bool        `json:"Enabled"`
	UserStatus           string      `json:"UserStatus"`
	UserCreateDate       int64       `json:"UserCreateDate"`
	UserLastModifiedDate int64       `json:"UserLastModifiedDate"`
}

// errBadPage answers a pagination token the server did not give for the
// same listing.
var errBadPage = &protocolError{"InvalidParameterException", "Invalid pagination token."}

// list answers ListUsers and ListUsersInGroup: a page of the pool's (or
// the group's) users in the order of their names, from the one after the
// page token's, with a token for the next page when there are more.
func (st *store) list(c Call) ([]byte, *protocolError) {
	var in listRequest
	if err := json.Unmarshal(c.Body, &in); err != nil {
		return nil, &protocolError{"SerializationException", "request body: " + err.Error()}
	}
	inGroup := c.Op == "ListUsersInGroup"
	var f *filter
	if !inGroup {
		var perr *protocolError
		if f, perr = parseFilter(deref(in.Filter)); perr != nil {
			return nil, perr
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	p := st.pools[c.PoolID]
	switch {
	case p == nil:
		return nil, &protocolError{"ResourceNotFoundException", "User pool " + c.PoolID + " does not exist."}
	case inGroup && !p.groups[c.Group]:
		return nil, &protocolError{"ResourceNotFoundException", "Group not found."}
	}
	want := cursor{Pool: c.PoolID, Group: c.Group, Filter: deref(in.Filter)}
	if c.Page != "" {
		got, ok := st.readCursor(c.Page)
		if !ok || got.Pool != want.Pool || got.Group != want.Group || got.Filter != want.Filter {
			return nil, errBadPage
		}
		want.After = got.After
	}
	limit := maxLimit
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	page, more := p.page(want.After, limit, func(u *user) bool {
		return f.matches(u) && (!inGroup || slices.Contains(u.groups, c.Group))
	})
	out := struct {
		Users           []listedUser `json:"Users"`
		PaginationToken string       `json:"PaginationToken,omitempty"`
		NextToken       string       `json:"NextToken,omitempty"`
	}{Users: make([]listedUser, len(page))}
	for i, u := range page {
		out.Users[i] = listed(u, in.AttributesToGet)
	}
	if more {
		want.After = page[len(page)-1].name
		next := st.token(want)
		if inGroup {
			out.NextToken = next
		} else {
			out.PaginationToken = next
		}
	}
	return marshal(out), nil
}

// page returns up to limit users that match, in name order from the first
// after after, and whether more match beyond them.
func (p *pool) page(after string, limit int, match func(*user) bool) (page []*user, more bool) {
	users := p.byName()
	i, found := slices.BinarySearchFunc(users, after, func(u *user, name string) int { return strings.Compare(u.name, name) })
	if found {
		i++
	}
	for ; i < len(users); i++ {
		if !match(users[i]) {
			continue
		}
		if len(page) == limit {
			return page, true
		}
		page = append(page, users[i])
	}
	return page, false
}

// listed is u as a listing shows it, with the attributes named, or all
// when none are.
func listed(u *user, names []string) listedUser {
	out := listedUser{Username: u.name, Attributes: u.attrs, Enabled: !u.disabled, UserStatus: u.status,
		UserCreateDate: u.created, UserLastModifiedDate: u.modified}
	if names != nil {
		out.Attributes = []attribute{}
		for _, a := range u.attrs {
			if slices.Contains(names, a.Name) {
				out.Attributes = append(out.Attributes, a)
			}
		}
	}
	return out
}

// cursor is what a pagination token holds: the listing it belongs to
// (ListUsers has no group, ListUsersInGroup no filter), and the name of
// the last user it gave.
type cursor struct {
	Pool, Group, Filter, After string
}

// macSize is how much of the HMAC a token carries.
const macSize = 16

// token is c as an opaque pagination token, signed so that the server
// knows its own.
func (st *store) token(c cursor) string {
	payload := marshal(c)
	mac := hmac.New(sha256.New, st.key[:])
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(payload)[:len(payload)+macSize])
}

// readCursor reads a pagination token, and reports whether the server
// gave it.
func (st *store) readCursor(token string) (cursor, bool) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < macSize {
		return c, false
	}
	payload, sum := b[:len(b)-macSize], b[len(b)-macSize:]
	mac := hmac.New(sha256.New, st.key[:])
	mac.Write(payload)
	if !hmac.Equal(sum, mac.Sum(nil)[:macSize]) {
		return c, false
	}
	return c, json.Unmarshal(payload, &c) == nil
}

// searchable are the attributes ListUsers can filter on.
var searchable = []string{"username", "email", "phone_number", "name", "given_name", "family_name",
	"preferred_username", "cognito:user_status", "status", "sub"}

// filter is a ListUsers filter: ATTRIBUTE = "VALUE", or ^= for a prefix.
type filter struct {
	attr   string
	prefix bool
	value  string
}

var errFilter = &protocolError{"InvalidParameterException", "Error while parsing filter."}

// parseFilter reads a ListUsers filter; nil for a blank one, which lists
// every user.
func parseFilter(s string) (*filter, *protocolError) {
	rest := strings.TrimSpace(s)
	if rest == "" {
		return nil, nil
	}
	end := strings.IndexAny(rest, " ^=\"")
	if end <= 0 {
		return nil, errFilter
	}
	f := &filter{attr: rest[:end]}
	rest = strings.TrimLeft(rest[end:], " ")
	var ok bool
	if rest, f.prefix = strings.CutPrefix(rest, "^"); !strings.HasPrefix(rest, "=") {
		return nil, errFilter
	}
	rest = strings.TrimLeft(rest[1:], " ")
	if rest, ok = strings.CutPrefix(rest, `"`); !ok {
		return nil, errFilter
	}
	var value strings.Builder
	for i := 0; i < len(rest); i++ {
		switch {
		case rest[i] == '\\' && i+1 < len(rest):
			i++
			value.WriteByte(rest[i])
		case rest[i] == '"':
			if strings.TrimSpace(rest[i+1:]) != "" {
				return nil, errFilter
			}
			if !slices.Contains(searchable, f.attr) {
				return nil, &protocolError{"InvalidParameterException", "Invalid search attribute: " + f.attr}
			}
			f.value = value.String()
			return f, nil
		default:
			value.WriteByte(rest[i])
		}
	}
	return nil, errFilter // the value's quote never closes
}

// matches reports whether u passes the filter; every user passes a nil
// one. cognito:user_status is compared without regard to case, status
// (Enabled or Disabled) and the rest with.
func (f *filter) matches(u *user) bool {
	if f == nil {
		return true
	}
	v, want, ok := "", f.value, true
	switch f.attr {
	case "username":
		v = u.name
	case "cognito:user_status":
		v, want = strings.ToUpper(u.status), strings.ToUpper(want)
	case "status":
		v = map[bool]string{false: "Enabled", true: "Disabled"}[u.disabled]
	default:
		v, ok = u.attr(f.attr)
	}
	if f.prefix {
		return ok && strings.HasPrefix(v, want)
	}
	return ok && v == want
}
