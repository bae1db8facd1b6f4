package cognitotest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
)

// User is a user of one of the server's pools, as a test seeds it (see
// AddUser) and reads it back (see Server.User). A token minted by Token
// is for the user its issuer's pool and its username claim name, so a
// write with the token and an admin read of the user agree.
//
// A write for a user the server does not have makes it; a read of one
// answers a confirmed user with no MFA, and makes nothing. Writes for a
// user whose name starts noapply- answer success and change nothing, as
// Cognito does for some users (enrolled through the hosted UI, or in pools
// with MFA required).
type User struct {
	Pool, Username string
	// Attributes are the user's attributes, such as email and
	// phone_number. sub, when absent, is the one Token gives the user's
	// tokens.
	Attributes map[string]string
	Groups     []string
	// Status is the user's UserStatus; CONFIRMED when blank.
	Status string
	// Disabled is an administrator's AdminDisableUser: AdminGetUser and
	// the listings answer Enabled false.
	Disabled bool
	// MFA are the enabled factors by the names of UserMFASettingList:
	// SMS_MFA, SOFTWARE_TOKEN_MFA, EMAIL_OTP. Preferred is one of them,
	// or blank for none. Server.User lists them in that order.
	MFA       []string
	Preferred string
	// Passkey is whether passkeys are enabled (WebAuthnMfaSettings), which
	// Cognito reports in neither UserMFASettingList nor PreferredMfaSetting.
	Passkey bool
}

// factorNames are the factors of UserMFASettingList, in the order the
// server lists them.
var factorNames = [3]string{"SMS_MFA", "SOFTWARE_TOKEN_MFA", "EMAIL_OTP"}

// mfa is a user's MFA state.
type mfa struct {
	enabled   [len(factorNames)]bool
	preferred int8 // index into factorNames; -1 for none
	passkey   bool
}

// block is a factor's settings in a request.
type block struct{ Enabled, PreferredMfa bool }

// preference is the settings of a SetUserMFAPreference or
// AdminSetUserMFAPreference request: a nil block leaves its factor be.
type preference struct {
	SMSMfaSettings, SoftwareTokenMfaSettings, EmailMfaSettings *block
	WebAuthnMfaSettings                                        *struct{ Enabled bool }
}

// with is the state m becomes when p is written, as Cognito has it: each
// block sets its factor's Enabled; PreferredMfa true makes the factor the
// preferred one, taking the preference from any other; PreferredMfa
// false, or Enabled false, on the preferred factor leaves none preferred.
func (m mfa) with(p preference) mfa {
	for i, b := range [...]*block{p.SMSMfaSettings, p.SoftwareTokenMfaSettings, p.EmailMfaSettings} {
		if b == nil {
			continue
		}
		m.enabled[i] = b.Enabled
		switch {
		case b.PreferredMfa:
			m.preferred = int8(i)
		case m.preferred == int8(i):
			m.preferred = -1
		}
	}
	if p.WebAuthnMfaSettings != nil {
		m.passkey = p.WebAuthnMfaSettings.Enabled
	}
	return m
}

// list is m as UserMFASettingList and PreferredMfaSetting give it.
func (m mfa) list() (enabled []string, preferred string) {
	for i, on := range m.enabled {
		if on {
			enabled = append(enabled, factorNames[i])
		}
	}
	if m.preferred >= 0 {
		preferred = factorNames[m.preferred]
	}
	return enabled, preferred
}

// user is a stored user, kept small: a benchmark holds 100,000.
type user struct {
	name              string
	attrs             []attribute // by name
	groups            []string
	status            string
	disabled          bool
	mfa               mfa
	created, modified int64 // Unix seconds
}

// attribute is a user attribute, in the shape of the service's answers.
type attribute struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

// pool is a user pool: its users and groups.
type pool struct {
	users  map[string]*user
	groups map[string]bool
	sorted []*user // users by name; nil when one was put since
}

// store is the server's pools, and the tokens revoked.
type store struct {
	mu      sync.Mutex
	pools   map[string]*pool
	revoked map[[sha256.Size]byte]bool
	key     [32]byte // signs the listings' pagination tokens
}

func newStore() *store {
	st := &store{pools: map[string]*pool{}, revoked: map[[sha256.Size]byte]bool{}}
	_, _ = rand.Read(st.key[:]) // never fails
	return st
}

// pool returns the pool with id, made when it does not exist yet.
func (st *store) pool(id string) *pool {
	p := st.pools[id]
	if p == nil {
		p = &pool{users: map[string]*user{}, groups: map[string]bool{}}
		st.pools[id] = p
	}
	return p
}

// put stores u, in place of any user of the same name.
func (p *pool) put(u *user) {
	p.sorted = nil
	p.users[u.name] = u
	for _, g := range u.groups {
		p.groups[g] = true
	}
}

// byName returns the pool's users sorted by name, sorting them again
// only when one was put since.
func (p *pool) byName() []*user {
	if p.sorted == nil {
		p.sorted = slices.SortedFunc(maps.Values(p.users), func(a, b *user) int { return strings.Compare(a.name, b.name) })
	}
	return p.sorted
}

// AddUser adds u to its pool (made when it does not exist), in place of
// any user of the same name.
func (s *Server) AddUser(u User) error {
	return s.AddUsers(slices.Values([]User{u}))
}

// AddUsers adds users as AddUser does, under one lock: a benchmark adds
// 100,000 (see Generated) in about half a second, at about 300 bytes a
// user. It stops at the first user it cannot add.
func (s *Server) AddUsers(users iter.Seq[User]) error {
	st := s.users
	st.mu.Lock()
	defer st.mu.Unlock()
	now := time.Now().Unix()
	for u := range users {
		stored, err := u.stored(now)
		if err != nil {
			return fmt.Errorf("cognitotest: user %q of pool %q: %w", u.Username, u.Pool, err)
		}
		st.pool(u.Pool).put(stored)
	}
	return nil
}

// userStatuses are the values of UserStatus.
var userStatuses = types.UserStatusType("").Values()

// stored checks u and returns it as the store keeps it.
func (u User) stored(now int64) (*user, error) {
	switch {
	case !poolIDPattern.MatchString(u.Pool):
		return nil, errors.New("the pool id is not of the form REGION_ID")
	case u.Username == "":
		return nil, errors.New("no username")
	case u.Status != "" && !slices.Contains(userStatuses, types.UserStatusType(u.Status)):
		return nil, fmt.Errorf("status %q is none of %v", u.Status, userStatuses)
	case slices.Contains(u.Groups, ""):
		return nil, errors.New("a group with no name")
	}
	m, err := mfaOf(u.MFA, u.Preferred)
	if err != nil {
		return nil, err
	}
	m.passkey = u.Passkey
	stored := &user{name: u.Username, groups: slices.Clone(u.Groups), status: u.Status, disabled: u.Disabled,
		mfa: m, created: now, modified: now}
	if stored.status == "" {
		stored.status = string(types.UserStatusTypeConfirmed)
	}
	for _, name := range slices.Sorted(maps.Keys(u.Attributes)) {
		stored.attrs = append(stored.attrs, attribute{name, u.Attributes[name]})
	}
	if _, ok := u.Attributes["sub"]; !ok {
		stored.setAttr("sub", defaultSub(u.Pool, u.Username))
	}
	return stored, nil
}

// mfaOf is the state of enabled factors and a preferred one, by their
// UserMFASettingList names.
func mfaOf(enabled []string, preferred string) (mfa, error) {
	m := mfa{preferred: -1}
	for _, name := range enabled {
		i := slices.Index(factorNames[:], name)
		switch {
		case i < 0:
			return m, fmt.Errorf("MFA factor %q is none of %v", name, factorNames)
		case m.enabled[i]:
			return m, fmt.Errorf("MFA factor %s is given twice", name)
		}
		m.enabled[i] = true
	}
	if preferred != "" {
		i := slices.Index(factorNames[:], preferred)
		if i < 0 || !m.enabled[i] {
			return m, fmt.Errorf("preferred factor %q is not one of the enabled %v", preferred, enabled)
		}
		m.preferred = int8(i)
	}
	return m, nil
}

// defaultSub is the sub of a user no test gave one: the sub Token gives
// the user's tokens.
func defaultSub(pool, username string) string { return derivedUUID(pool + "\x00" + username) }

// setAttr sets attribute name, keeping the attributes sorted.
func (u *user) setAttr(name, value string) {
	i, found := slices.BinarySearchFunc(u.attrs, name, func(a attribute, name string) int { return strings.Compare(a.Name, name) })
	if found {
		u.attrs[i].Value = value
		return
	}
	u.attrs = slices.Insert(u.attrs, i, attribute{name, value})
}

// attr is the value of attribute name, and whether the user has it.
func (u *user) attr(name string) (string, bool) {
	i, found := slices.BinarySearchFunc(u.attrs, name, func(a attribute, name string) int { return strings.Compare(a.Name, name) })
	if !found {
		return "", false
	}
	return u.attrs[i].Value, true
}

// User returns a copy of the user username of pool, and whether the
// server has it: seeded, or made by a write.
func (s *Server) User(pool, username string) (User, bool) {
	st := s.users
	st.mu.Lock()
	defer st.mu.Unlock()
	p := st.pools[pool]
	if p == nil || p.users[username] == nil {
		return User{}, false
	}
	return p.users[username].public(pool), true
}

// Users returns copies of the users of pool, in the order of their names:
// those seeded, and those made by writes.
func (s *Server) Users(pool string) []User {
	st := s.users
	st.mu.Lock()
	defer st.mu.Unlock()
	p := st.pools[pool]
	if p == nil {
		return nil
	}
	users := make([]User, len(p.users))
	for i, u := range p.byName() {
		users[i] = u.public(pool)
	}
	return users
}

// public is a copy of u as a User of pool.
func (u *user) public(pool string) User {
	out := User{Pool: pool, Username: u.name, Attributes: map[string]string{}, Groups: slices.Clone(u.groups),
		Status: u.status, Disabled: u.disabled, Passkey: u.mfa.passkey}
	out.MFA, out.Preferred = u.mfa.list()
	for _, a := range u.attrs {
		out.Attributes[a.Name] = a.Value
	}
	return out
}

// AddPool makes pool when it does not exist, so that ListUsers lists it
// with no users in it.
func (s *Server) AddPool(pool string) error { return s.makePool(pool) }

// AddGroup makes group in pool, and the pool when it does not exist, so
// that ListUsersInGroup finds it with no users in it.
func (s *Server) AddGroup(pool, group string) error {
	if group == "" {
		return fmt.Errorf("cognitotest: a group of pool %q with no name", pool)
	}
	return s.makePool(pool, group)
}

func (s *Server) makePool(pool string, groups ...string) error {
	if !poolIDPattern.MatchString(pool) {
		return fmt.Errorf("cognitotest: pool %q: want a pool id of the form REGION_ID", pool)
	}
	s.users.mu.Lock()
	defer s.users.mu.Unlock()
	p := s.users.pool(pool)
	for _, g := range groups {
		p.groups[g] = true
	}
	return nil
}

// Revoke revokes token, as GlobalSignOut or RevokeToken do: later calls
// with it are NotAuthorizedException "Access Token has been revoked".
func (s *Server) Revoke(token string) {
	s.users.mu.Lock()
	defer s.users.mu.Unlock()
	s.users.revoked[sha256.Sum256([]byte(token))] = true
}

// Generated returns n users of pool for benchmarks: user names user1 to
// userN, the numbers zero-padded to one width so that the names sort as
// the numbers do; an email attribute NAME@example.com; and MFA states in
// a cycle of seven: none, sms, sms*, totp*, sms,totp*, email*, sms*,email.
func Generated(pool string, n int) iter.Seq[User] {
	width := len(strconv.Itoa(n))
	return func(yield func(User) bool) {
		for i := range n {
			name := fmt.Sprintf("user%0*d", width, i+1)
			st := generatedStates[i%len(generatedStates)]
			u := User{Pool: pool, Username: name, Attributes: map[string]string{"email": name + "@example.com"},
				MFA: st.mfa, Preferred: st.preferred}
			if !yield(u) {
				return
			}
		}
	}
}

var generatedStates = []struct {
	mfa       []string
	preferred string
}{
	{nil, ""},
	{[]string{"SMS_MFA"}, ""},
	{[]string{"SMS_MFA"}, "SMS_MFA"},
	{[]string{"SOFTWARE_TOKEN_MFA"}, "SOFTWARE_TOKEN_MFA"},
	{[]string{"SMS_MFA", "SOFTWARE_TOKEN_MFA"}, "SOFTWARE_TOKEN_MFA"},
	{[]string{"EMAIL_OTP"}, "EMAIL_OTP"},
	{[]string{"SMS_MFA", "EMAIL_OTP"}, "SMS_MFA"},
}

// noApply starts the names of users whose writes answer success and
// change nothing (see User).
const noApply = "noapply-"

// The service's answers to token calls with a token it refuses.
var (
	errTokenInvalid = &protocolError{"NotAuthorizedException", "Invalid Access Token"}
	errTokenExpired = &protocolError{"NotAuthorizedException", "Access Token has expired"}
	errTokenRevoked = &protocolError{"NotAuthorizedException", "Access Token has been revoked"}
)

// identity names a user: by pool and name, and the sub to give it if it
// is made.
type identity struct{ pool, name, sub string }

// tokenUser is the user a token is for, checking the token as the service
// does: readable, not revoked, not expired.
func (st *store) tokenUser(token string) (identity, *protocolError) {
	c, ok := readClaims(token)
	if !ok || c.Username == "" {
		return identity{}, errTokenInvalid
	}
	st.mu.Lock()
	revoked := st.revoked[sha256.Sum256([]byte(token))]
	st.mu.Unlock()
	switch {
	case revoked:
		return identity{}, errTokenRevoked
	case float64(time.Now().Unix()) >= c.Exp:
		return identity{}, errTokenExpired
	}
	return identity{pool: c.Iss[strings.LastIndex(c.Iss, "/")+1:], name: c.Username, sub: c.Sub}, nil
}

// serve answers a call the decider let through, from the server's users.
func (s *Server) serve(c Call) ([]byte, *protocolError) {
	st := s.users
	switch c.Op {
	case "SetUserMFAPreference", "GetUser":
		who, perr := st.tokenUser(c.Token)
		switch {
		case perr == errTokenInvalid && c.Op == "SetUserMFAPreference":
			// As this server always has: a write with a token it cannot
			// read succeeds, for no user.
			return []byte("{}"), nil
		case perr != nil:
			return nil, perr
		case c.Op == "GetUser":
			return st.get(who, false)
		}
		return st.setPreference(who, c.Body)
	case "AdminSetUserMFAPreference":
		return st.setPreference(identity{pool: c.PoolID, name: c.Username}, c.Body)
	case "AdminGetUser":
		return st.get(identity{pool: c.PoolID, name: c.Username}, true)
	}
	return st.list(c)
}

// setPreference writes a request's MFA settings to the user, making the
// user when the server does not have it yet.
func (st *store) setPreference(who identity, body []byte) ([]byte, *protocolError) {
	var p preference
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, &protocolError{"SerializationException", "request body: " + err.Error()}
	}
	if strings.HasPrefix(who.name, noApply) {
		return []byte("{}"), nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	pl := st.pool(who.pool)
	u := pl.users[who.name]
	now := time.Now().Unix()
	if u == nil {
		u = who.fresh(now)
		pl.put(u)
	}
	u.mfa, u.modified = u.mfa.with(p), now
	return []byte("{}"), nil
}

// fresh is the user who names when the server does not have it: no MFA,
// confirmed, made now.
func (who identity) fresh(now int64) *user {
	sub := who.sub
	if sub == "" {
		sub = defaultSub(who.pool, who.name)
	}
	return &user{name: who.name, attrs: []attribute{{"sub", sub}}, status: string(types.UserStatusTypeConfirmed),
		mfa: mfa{preferred: -1}, created: now, modified: now}
}

// gotUser is the answer to GetUser; adminGotUser to AdminGetUser.
type gotUser struct {
	Username            string      `json:"Username"`
	UserAttributes      []attribute `json:"UserAttributes"`
	UserMFASettingList  []string    `json:"UserMFASettingList,omitempty"`
	PreferredMfaSetting string      `json:"PreferredMfaSetting,omitempty"`
}

type adminGotUser struct {
	gotUser
	Enabled              bool   `json:"Enabled"`
	UserStatus           string `json:"UserStatus"`
	UserCreateDate       int64  `json:"UserCreateDate"`
	UserLastModifiedDate int64  `json:"UserLastModifiedDate"`
}

// get answers GetUser, or AdminGetUser when admin is true. A user the
// server does not have is answered as one with no MFA, and not made: any
// user name exists, unless a decider says otherwise (see AdminAnswers).
func (st *store) get(who identity, admin bool) ([]byte, *protocolError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var u *user
	if p := st.pools[who.pool]; p != nil {
		u = p.users[who.name]
	}
	if u == nil {
		u = who.fresh(time.Now().Unix())
	}
	out := gotUser{Username: u.name, UserAttributes: u.attrs}
	out.UserMFASettingList, out.PreferredMfaSetting = u.mfa.list()
	if !admin {
		return marshal(out), nil
	}
	return marshal(adminGotUser{out, !u.disabled, u.status, u.created, u.modified}), nil
}

// marshal is v as JSON; the answers' types always marshal.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
