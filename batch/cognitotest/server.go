// Package cognitotest provides a test double for the Amazon Cognito user-pool
// API: an HTTP server that speaks the service's JSON 1.1 protocol, answers
// SetUserMFAPreference, AdminSetUserMFAPreference, GetUser, AdminGetUser,
// ListUsers and ListUsersInGroup as a test decides (success, throttling,
// server errors, connection resets, stalls, any API error, for every
// operation or some: see ByOp), and records every call so tests can check
// attempts, request bodies and request rates. A call the test lets through
// is answered from the server's users and their MFA state, which tests
// seed and inspect (see User, AddUser): a write changes what later reads
// and listings answer. Admin calls must carry a SigV4 signature made with
// credentials the server trusts (TestCredentials and the like, see Trust),
// checked as the service checks it. It also mints unsigned Cognito-style
// access tokens (see Token).
//
// Point the real SDK client at it:
//
//	srv := cognitotest.NewServer(cognitotest.FailAttempts(2, cognitotest.Throttle))
//	defer srv.Close()
//	client := cognitoidentityprovider.New(cognitoidentityprovider.Options{
//		Region:       "us-east-1",
//		BaseEndpoint: aws.String(srv.URL),
//		Retryer:      aws.NopRetryer{},
//	})
package cognitotest

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"
	"log"
	"maps"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const (
	targetPrefix = "AWSCognitoIdentityProviderService."
	jsonType     = "application/x-amz-json-1.1"
)

// Fault is how the server answers a call.
type Fault int

// The faults a Reply can ask for.
const (
	// None answers HTTP 200 with the body {}.
	None Fault = iota
	// Throttle answers HTTP 400 TooManyRequestsException "Rate exceeded":
	// Cognito throttles with 400, not 429.
	Throttle
	// Internal answers HTTP 500 InternalErrorException.
	Internal
	// ServerError answers HTTP 503 with an HTML page, as a load balancer in
	// front of the service would: the body is not JSON and names no error type.
	ServerError
	// Reset closes the connection with a TCP RST without answering.
	Reset
	// Stall never answers: the call waits until the client gives up or the
	// server is closed, which then drops the connection.
	Stall
	// APIError answers HTTP 400 with the Reply's Code and Message, by default
	// NotAuthorizedException "Access Token has expired".
	APIError
)

var faultNames = [...]string{"None", "Throttle", "Internal", "ServerError", "Reset", "Stall", "APIError"}

// String returns the fault's name, such as "Throttle".
func (f Fault) String() string {
	if f >= 0 && int(f) < len(faultNames) {
		return faultNames[f]
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// Call is one request the server received.
type Call struct {
	N     int       // 1-based arrival order
	At    time.Time // arrival; never earlier than the previous call's
	Op    string    // operation from X-Amz-Target, such as "SetUserMFAPreference"; "" when absent
	Body  []byte    // raw request body, exactly as received; shared, do not modify
	Token string    // the body's AccessToken; "" when unreadable
	// Attempt is 1-based: how many calls of this operation so far were for
	// this same user, this one included: the same Token, or for an admin
	// call the same UserPoolId and Username; for a listing, the same page
	// of the same pool (and group). 0 when the call names none.
	Attempt int
	// Username is an admin call's Username, or the username claim of a
	// call's Token (read without verifying it); "" when absent.
	Username string
	PoolID   string // an admin call's UserPoolId; "" when absent
	Group    string // a ListUsersInGroup call's GroupName; "" when absent
	Page     string // a listing's PaginationToken or NextToken; "" for the first page

	// Who signed the call, as its Authorization header says ("" when it
	// has none or cannot be read), and whether the signature verified
	// against credentials the server trusts. Only admin calls are checked:
	// a signed token call is never Verified.
	AccessKeyID, SigningRegion string
	Verified                   bool
	SessionToken               string // X-Amz-Security-Token, "" when absent
}

// user is what Attempt counts calls by: the token, or the pool and user
// name of an admin call, or the page of a listing, and the operation but
// for the writes (whose key is kept as it was, so that Mix decides them
// as it always has).
func (c Call) user() string {
	var u string
	switch {
	case c.Token != "":
		u = c.Token
	case c.Username != "":
		u = c.PoolID + "\x00" + c.Username
	case Category(c.Op) == UserList:
		u = c.PoolID + "\x00" + c.Group + "\x00" + c.Page
	}
	if u == "" || Category(c.Op) == UserUpdate {
		return u
	}
	return c.Op + "\x00" + u
}

// Reply says what the server does with a call.
type Reply struct {
	Fault Fault
	// Code and Message replace the error type and message of Throttle,
	// Internal and APIError answers; left blank, each fault's own are used.
	Code, Message string
	// Delay is the latency before answering (or resetting, or stalling).
	// A client that gives up, or Close, cuts it short.
	Delay time.Duration
	// RequestID replaces the x-amzn-RequestId of the answer, RequestID(N)
	// by default: a server may answer with any text there.
	RequestID string
}

// Server is a Cognito user-pool endpoint for tests. Its methods are safe for
// concurrent use.
type Server struct {
	// URL is the base URL, http://127.0.0.1:PORT (https for NewTLSServer),
	// for the client's BaseEndpoint.
	URL string

	ts      *httptest.Server
	decide  func(Call) Reply
	closing chan struct{} // closed by Close to release delayed and stalled calls
	once    sync.Once

	mu       sync.Mutex
	started  time.Time
	calls    []Call    // kept while keep is true
	arrivals []arrival // every call
	keep     bool
	seed     maphash.Seed
	attempts map[uint64]int             // calls per user, by the hash of Call.user
	conns    int                        // connections accepted
	trusted  map[string]aws.Credentials // by access key id

	users *store // the pools, their users and groups
}

// NewServer starts a server that answers each well-formed call as decide
// says; a call decide lets through (all of them, when decide is nil) is
// answered from the server's users (see User). Requests the service itself would reject (wrong
// method, content type or target, malformed JSON, no AccessToken, no
// Username or UserPoolId, a Limit out of range, an admin call not signed
// by trusted credentials for the pool's region) get the service's HTTP
// 400 error without consulting decide, but are still recorded.
//
// decide is called concurrently from the server's goroutines, so it must be
// safe for concurrent use; it should return promptly, since Close waits for it.
func NewServer(decide func(Call) Reply) *Server {
	return newServer(decide, nil)
}

// NewTLSServer is NewServer over HTTPS with cert, as a service behind a
// private CA answers: its URL is https://127.0.0.1:PORT.
func NewTLSServer(decide func(Call) Reply, cert tls.Certificate) *Server {
	return newServer(decide, &tls.Config{Certificates: []tls.Certificate{cert}})
}

func newServer(decide func(Call) Reply, tlsConfig *tls.Config) *Server {
	s := &Server{
		decide:   decide,
		closing:  make(chan struct{}),
		started:  time.Now(),
		keep:     true,
		seed:     maphash.MakeSeed(),
		attempts: make(map[uint64]int),
		trusted:  make(map[string]aws.Credentials),
		users:    newStore(),
	}
	for _, creds := range []aws.Credentials{TestCredentials, TestSessionCredentials, TestExpiredCredentials} {
		s.trusted[creds.AccessKeyID] = creds
	}
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.ts.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.mu.Lock()
			s.conns++
			s.mu.Unlock()
		}
	}
	if tlsConfig != nil {
		// A client that refuses the certificate is what some tests test.
		s.ts.Config.ErrorLog = log.New(io.Discard, "", 0)
		s.ts.TLS = tlsConfig
		s.ts.StartTLS()
	} else {
		s.ts.Start()
	}
	s.URL = s.ts.URL
	return s
}

// Client returns an HTTP client for the server, suitable as the SDK's
// HTTPClient option. Close closes its idle connections.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close releases delayed and stalled calls (their connections are dropped),
// shuts the server down and waits for its handlers to return. It may be
// called more than once.
func (s *Server) Close() {
	s.once.Do(func() { close(s.closing) })
	s.ts.Close()
}

// Connections returns how many connections the server has accepted: with
// keep-alive, one per client connection however many calls it carries.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Calls returns the calls received so far, in arrival order. The server
// keeps every call, body included, until it is garbage: a soak test of a
// million calls holds a million bodies, unless it turns KeepCalls off.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// MaxInWindow returns the largest number of calls that arrived within any
// window of length d, that is, with arrival times t ≤ At < t+d for some t.
// A limiter allowing r calls per second with burst b should keep
// MaxInWindow(d) near b + r·d.
func (s *Server) MaxInWindow(d time.Duration) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maxInWindow(len(s.arrivals), func(i int) time.Time { return s.started.Add(s.arrivals[i].at) }, d)
}

// MaxInWindow returns the most of the ascending times that lie within any
// half-open window of length d: the same count as Server.MaxInWindow, for
// times taken elsewhere.
func MaxInWindow(times []time.Time, d time.Duration) int {
	return maxInWindow(len(times), func(i int) time.Time { return times[i] }, d)
}

// maxInWindow returns the most of n ascending times, at(0) ≤ at(1) ≤ ...,
// that lie within any half-open window of length d.
func maxInWindow(n int, at func(int) time.Time, d time.Duration) int {
	if d <= 0 {
		return 0
	}
	best, lo := 0, 0
	for hi := range n {
		// Since at(hi)-at(hi) = 0 < d, lo never passes hi.
		for at(hi).Sub(at(lo)) >= d {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// RequestID returns the x-amzn-RequestId the server gives its n-th call.
func RequestID(n int) string { return fmt.Sprintf("req-%06d", n) }

// protocolError is a request the service rejects before looking at it.
type protocolError struct{ code, message string }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// The client went away mid-request; there is no one to answer.
		panic(http.ErrAbortHandler)
	}
	c := Call{Body: body}
	perr := s.inspect(r, &c)
	c = s.record(c)
	if perr != nil {
		writeError(w, RequestID(c.N), http.StatusBadRequest, perr.code, perr.message)
		return
	}
	var reply Reply
	if s.decide != nil {
		reply = s.decide(c)
	}
	s.answer(w, r, c, reply)
}

// operation returns the operation a request asks for, checking what the
// service's router checks.
func operation(r *http.Request) (string, *protocolError) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	_, known := ops[op]
	switch {
	case r.Method != http.MethodPost:
		return op, &protocolError{"UnknownOperationException", "method " + r.Method + ": want POST"}
	case r.Header.Get("Content-Type") != jsonType:
		return op, &protocolError{"UnknownOperationException", fmt.Sprintf("Content-Type %q: want %q", r.Header.Get("Content-Type"), jsonType)}
	case !ok || !known:
		return op, &protocolError{"UnknownOperationException", fmt.Sprintf("X-Amz-Target %q: not an operation of this server", r.Header.Get("X-Amz-Target"))}
	}
	return op, nil
}

// inspect fills in c what the request says, and returns the error the
// service answers a request it rejects with, checking in the service's
// order: the operation, the signature of an admin call, then the body.
func (s *Server) inspect(r *http.Request, c *Call) *protocolError {
	op, perr := operation(r)
	c.Op = op
	if perr != nil {
		return perr
	}
	var in request
	jerr := json.Unmarshal(c.Body, &in)
	c.Token, c.Username, c.PoolID = deref(in.AccessToken), deref(in.Username), deref(in.UserPoolId)
	c.Group, c.Page = deref(in.GroupName), cmp.Or(deref(in.PaginationToken), deref(in.NextToken))
	if c.Username == "" {
		c.Username = usernameClaim(c.Token)
	}
	spec := ops[op]
	if spec.admin {
		if perr := s.authenticate(r, c.Body, poolRegion(c.PoolID), c); perr != nil {
			return perr
		}
	}
	if jerr != nil {
		return &protocolError{"SerializationException", "request body: " + jerr.Error()}
	}
	members := map[string]*string{}
	for _, name := range spec.members {
		members[name] = in.member(name)
	}
	if spec.category != UserList {
		in.Limit = nil // not a member of the other operations' requests
	}
	return validate(members, in.Limit)
}

// request is the members of a request that the server checks before
// answering it.
type request struct {
	AccessToken, Username, UserPoolId, GroupName *string
	PaginationToken, NextToken                   *string
	Limit                                        *int64
}

// member is the required member named as the service's messages name it.
func (in *request) member(name string) *string {
	return map[string]*string{"accessToken": in.AccessToken, "username": in.Username,
		"userPoolId": in.UserPoolId, "groupName": in.GroupName}[name]
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// poolIDPattern is the service's constraint on a UserPoolId.
var poolIDPattern = regexp.MustCompile(`^[\w-]+_[0-9a-zA-Z]+$`)

// poolRegion is the region a pool id names, or "" when it names none.
func poolRegion(poolID string) string {
	region, _, ok := strings.Cut(poolID, "_")
	if !ok || !poolIDPattern.MatchString(poolID) {
		return ""
	}
	return region
}

// validate checks that the required members are there, that a
// userPoolId has the service's shape, and that a listing's limit is in
// range, as the service words it.
func validate(members map[string]*string, limit *int64) *protocolError {
	var errs []string
	for _, name := range slices.Sorted(maps.Keys(members)) {
		v := members[name]
		switch {
		case v == nil || *v == "":
			errs = append(errs, "Value null at '"+name+"' failed to satisfy constraint: Member must not be null")
		case name == "userPoolId" && !poolIDPattern.MatchString(*v):
			errs = append(errs, fmt.Sprintf("Value %q at 'userPoolId' failed to satisfy constraint: "+
				"Member must satisfy regular expression pattern: %s", *v, `[\w-]+_[0-9a-zA-Z]+`))
		}
	}
	switch {
	case limit != nil && *limit < minLimit:
		errs = append(errs, fmt.Sprintf("Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to %d", *limit, minLimit))
	case limit != nil && *limit > maxLimit:
		errs = append(errs, fmt.Sprintf("Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to %d", *limit, maxLimit))
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return &protocolError{"InvalidParameterException", "1 validation error detected: " + errs[0]}
	}
	return &protocolError{"InvalidParameterException",
		fmt.Sprintf("%d validation errors detected: %s", len(errs), strings.Join(errs, "; "))}
}

// record numbers and stores a call. N, At and Attempt are assigned together
// under the lock so that they agree with one another.
func (s *Server) record(c Call) Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.N, c.At = len(s.arrivals)+1, time.Now()
	if u := c.user(); u != "" {
		h := maphash.String(s.seed, u)
		s.attempts[h]++
		c.Attempt = s.attempts[h]
	}
	s.arrivals = append(s.arrivals, arrival{at: c.At.Sub(s.started), op: opIndex(c.Op)})
	if s.keep {
		s.calls = append(s.calls, c)
	}
	return c
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, c Call, reply Reply) {
	if reply.Delay > 0 && !s.wait(r.Context(), reply.Delay) {
		panic(http.ErrAbortHandler)
	}
	n := c.N
	id := cmp.Or(reply.RequestID, RequestID(n))
	code := func(def string) string { return cmp.Or(reply.Code, def) }
	message := func(def string) string { return cmp.Or(reply.Message, def) }
	switch reply.Fault {
	case None:
		// Only a call let through reaches the users: a fault changes nothing.
		body, perr := s.serve(c)
		if perr != nil {
			writeError(w, id, http.StatusBadRequest, perr.code, perr.message)
			return
		}
		writeResponse(w, id, http.StatusOK, "", jsonType, body)
	case Throttle:
		writeError(w, id, http.StatusBadRequest, code("TooManyRequestsException"), message("Rate exceeded"))
	case Internal:
		writeError(w, id, http.StatusInternalServerError, code("InternalErrorException"), message("Internal server error"))
	case APIError:
		writeError(w, id, http.StatusBadRequest, code("NotAuthorizedException"), message("Access Token has expired"))
	case ServerError:
		writeResponse(w, id, http.StatusServiceUnavailable, "", "text/html", []byte(unavailablePage))
	case Reset:
		reset(w)
	case Stall:
		s.wait(r.Context(), math.MaxInt64)
		// Dropping the connection, rather than returning, keeps net/http
		// from sending an empty 200 that the client would take for success.
		panic(http.ErrAbortHandler)
	default:
		panic(fmt.Sprintf("cognitotest: call %d: unknown %v", n, reply.Fault))
	}
}

// wait waits for d and reports whether it passed before the client gave up
// or the server began closing.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closing:
		return false
	}
}

// reset closes the connection with a TCP RST: SO_LINGER 0 makes the kernel
// discard it instead of shutting it down in order.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

const unavailablePage = "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n" +
	"<body>\r\n<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"

// writeError writes a JSON 1.1 error the way the service does: the type in
// both the X-Amzn-ErrorType header and the body's __type.
func writeError(w http.ResponseWriter, requestID string, status int, code, message string) {
	body, err := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{code, message})
	if err != nil {
		panic(err) // two strings always marshal
	}
	writeResponse(w, requestID, status, code, jsonType, body)
}

func writeResponse(w http.ResponseWriter, requestID string, status int, errorType, contentType string, body []byte) {
	h := w.Header()
	// Assigned directly to keep the service's spelling on the wire; clients
	// read header names case-insensitively.
	h["x-amzn-RequestId"] = []string{requestID}
	if errorType != "" {
		h["X-Amzn-ErrorType"] = []string{errorType}
	}
	h["Content-Type"] = []string{contentType}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body) // a write error means the client is gone
}

// FailAttempts returns a decider that answers the first n attempts of each
// user (access token, or pool and user name) at each operation, and of
// each listing's page, with fault f and every later attempt with success.
func FailAttempts(n int, f Fault) func(Call) Reply {
	return func(c Call) Reply {
		if c.Attempt <= n {
			return Reply{Fault: f}
		}
		return Reply{}
	}
}

// Mix returns a decider that answers each call with fault f with probability
// p[f], and with success otherwise. The choice is a pure function of seed,
// the call's user (its Token, or its pool and user name; a listing's page),
// its operation unless it is a write, and its Attempt, not of arrival
// order, so a run with
// concurrent workers is reproducible, and a test can learn what a recorded
// call got by calling the decider on it again. Mix panics when a probability
// is negative or they add up to more than 1.
func Mix(seed int64, p map[Fault]float64) func(Call) Reply {
	faults := make([]Fault, 0, len(p))
	for f := range p {
		faults = append(faults, f)
	}
	slices.Sort(faults) // map order is random; the thresholds must not be
	bounds := make([]float64, len(faults))
	sum := 0.0
	for i, f := range faults {
		if p[f] < 0 {
			panic(fmt.Sprintf("cognitotest.Mix: %v has probability %v", f, p[f]))
		}
		sum += p[f]
		bounds[i] = sum
	}
	if sum > 1+1e-9 {
		panic(fmt.Sprintf("cognitotest.Mix: probabilities add up to %v, more than 1", sum))
	}
	return func(c Call) Reply {
		u := uniform(seed, c.user(), c.Attempt)
		for i, b := range bounds {
			if u < b {
				return Reply{Fault: faults[i]}
			}
		}
		return Reply{}
	}
}

// uniform hashes seed, token and attempt to a number in [0, 1).
func uniform(seed int64, token string, attempt int) float64 {
	// FNV-1a over the token, then splitmix64's finaliser to spread the
	// seed and attempt over all bits.
	h := uint64(14695981039346656037)
	for i := 0; i < len(token); i++ {
		h ^= uint64(token[i])
		h *= 1099511628211
	}
	h ^= uint64(seed)*0x9e3779b97f4a7c15 + uint64(attempt)
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return float64(h>>11) / (1 << 53)
}

// Grant returns a decider that lets through rps calls per second (with
// burst) and throttles the rest, as the service does past an account's
// quota.
func Grant(rps float64, burst int) func(Call) Reply {
	return NewQuota(rps, burst).Decide
}
