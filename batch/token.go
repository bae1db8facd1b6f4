package batch

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unsafe"
)

// Token is a user's access token. It is a bearer secret, so formatting one
// with fmt prints a placeholder; convert to string only to send it.
type Token string

// String hides the token.
func (Token) String() string { return "<token>" }

// Format hides the token whatever the verb.
func (Token) Format(f fmt.State, _ rune) { io.WriteString(f, "<token>") }

// adminScope is the scope SetUserMFAPreference needs.
const adminScope = "aws.cognito.signin.user.admin"

// maxTokenLen bounds what is decoded; real access tokens are a few KiB.
const maxTokenLen = 16 << 10

// Claims are the access token's claims the tool uses. They are read
// without checking the signature; the service checks it.
type Claims struct {
	Issuer   string
	Sub      string
	Username string
	Region   string // from Issuer, when it is a Cognito user pool
	Pool     string // the user pool ID, from Issuer likewise
	Exp      time.Time
}

// Fingerprint names a token without revealing it: the first 16 hex digits
// of its SHA-256.
func Fingerprint(t Token) string {
	sum := sha256.Sum256(bytesOf(string(t)))
	return hex.EncodeToString(sum[:8])
}

var issuerHost = regexp.MustCompile(`^cognito-idp\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$`)

// ParseToken decodes an access token's claims and checks that it is an
// access token with the scope SetUserMFAPreference needs.
func ParseToken(t Token) (Claims, *RowError) { return parseToken(t, &issuers{}) }

// issuers remembers the last issuer read: a manifest's tokens mostly come
// from one pool, and parsing the issuer is most of a token's cost after
// the JSON. It also keeps a buffer for decoding, reused token after token.
type issuers struct {
	iss, region, pool string
	header            string // the last header that checked out
	buf               []byte
}

// bytesOf views s as bytes without copying, for functions that only read
// their argument.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// parts returns the issuer as a string, the same string as last time when
// it is the same issuer, with its region and pool.
func (is *issuers) parts(raw []byte) (iss, region, pool string) {
	if string(raw) == is.iss && len(raw) > 0 {
		return is.iss, is.region, is.pool
	}
	iss = string(raw)
	if u, err := url.Parse(iss); err == nil && u.Scheme == "https" {
		if m := issuerHost.FindStringSubmatch(u.Host); m != nil {
			region, pool = m[1], strings.Trim(u.Path, "/")
		}
	}
	is.iss, is.region, is.pool = iss, region, pool
	return iss, region, pool
}

func parseToken(t Token, is *issuers) (Claims, *RowError) {
	var c Claims
	s := string(t)
	if s == "" {
		return c, rowErr(CodeInvalidRow, "access_token is blank")
	}
	if len(s) > maxTokenLen {
		return c, rowErr(CodeMalformedToken, "access_token is %d bytes, more than a JWT can be (%d)", len(s), maxTokenLen)
	}
	var p payloadClaims
	if err := is.segments(s, &p); err != nil {
		return c, err
	}
	c.Issuer, c.Region, c.Pool = is.parts(p.iss)
	c.Sub, c.Username = p.sub, p.username
	if p.exp == nil || math.IsNaN(*p.exp) || *p.exp < 0 || *p.exp > 1<<40 {
		return c, rowErr(CodeMalformedToken, "access_token has no valid exp claim")
	}
	c.Exp = time.Unix(int64(*p.exp), 0).UTC()
	if string(p.tokenUse) != "access" {
		if string(p.tokenUse) == "id" {
			return c, rowErr(CodeNotAccessToken, "this is an ID token (token_use \"id\"): SetUserMFAPreference needs the user's access token")
		}
		return c, rowErr(CodeNotAccessToken, "token_use is %q, not \"access\"", string(p.tokenUse))
	}
	if p.hasScope && !hasScope(p.scope, adminScope) {
		return c, rowErr(CodeMissingScope, "the token's scope lacks %s, which SetUserMFAPreference needs: request it in the app client's OAuth scopes", adminScope)
	}
	if p.sub == "" {
		return c, rowErr(CodeMalformedToken, "access_token has no sub claim")
	}
	return c, nil
}

// segments checks that s is a JWT and reads its payload's claims into p.
// Nearly every token passes, so quick checks first, at a fraction of the
// cost; a token it refuses is checked again step by step, for the
// reason.
func (is *issuers) segments(s string, p *payloadClaims) *RowError {
	if is.quick(s, p) {
		return nil
	}
	*p = payloadClaims{}
	return is.stepwise(s, p)
}

// stepwise checks s one step after another and returns the first
// problem found.
func (is *issuers) stepwise(s string, p *payloadClaims) *RowError {
	if i := indexNotBase64URL(s); i >= 0 {
		return rowErr(CodeMalformedToken, "access_token is not a JWT: byte %d is not base64url or a dot", i+1)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return rowErr(CodeMalformedToken, "access_token is not a JWT: it has %d dot-separated parts, not 3", len(parts))
	}
	if err := is.decode(parts[0], &payloadClaims{}); err != "" {
		return rowErr(CodeMalformedToken, "access_token is not a JWT: its header %s", err)
	}
	if parts[2] == "" {
		return rowErr(CodeMalformedToken, "access_token is not a JWT: its signature is empty")
	}
	if err := is.decode(parts[1], p); err != "" {
		return rowErr(CodeMalformedToken, "access_token is not a JWT: its payload %s", err)
	}
	return nil
}

// quick reports whether s passes every check segments makes, reading
// the payload into p. A header the same as the last good one is not
// decoded again, and the payload's alphabet is checked by decoding it,
// which refuses all but base64url and line breaks.
func (is *issuers) quick(s string, p *payloadClaims) bool {
	dot1 := strings.IndexByte(s, '.')
	if dot1 < 0 {
		return false
	}
	header, rest := s[:dot1], s[dot1+1:]
	dot2 := strings.IndexByte(rest, '.')
	if dot2 < 0 {
		return false
	}
	payload, sig := rest[:dot2], rest[dot2+1:]
	if sig == "" || strings.IndexByte(sig, '.') >= 0 || indexNotBase64URL(sig) >= 0 {
		return false
	}
	if strings.IndexByte(payload, '\n') >= 0 || strings.IndexByte(payload, '\r') >= 0 {
		return false
	}
	if header != is.header || header == "" {
		if indexNotBase64URL(header) >= 0 || is.decode(header, &payloadClaims{}) != "" {
			return false
		}
		is.header = strings.Clone(header) // not a view that keeps the token
	}
	return is.decode(payload, p) == ""
}

// jwtChars marks the bytes a JWT is made of: base64url, dots and padding.
var jwtChars = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=") {
		t[c] = true
	}
	return t
}()

// indexNotBase64URL is the index of the first byte of s that cannot be in
// a JWT, or -1.
func indexNotBase64URL(s string) int {
	for i := 0; i < len(s); i++ {
		if !jwtChars[s[i]] {
			return i
		}
	}
	return -1
}

// hasScope reports whether want is one of the space-separated scopes.
func hasScope(scopes []byte, want string) bool {
	for len(scopes) > 0 {
		i := 0
		for i < len(scopes) && !isSpace(scopes[i]) {
			i++
		}
		if string(scopes[:i]) == want {
			return true
		}
		for i < len(scopes) && isSpace(scopes[i]) {
			i++
		}
		scopes = scopes[i:]
	}
	return false
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// decode decodes a segment, the header or the payload, reading the
// claims into c. It returns a description of the problem, never the
// segment itself.
func (is *issuers) decode(seg string, c *payloadClaims) string {
	raw, err := base64.RawURLEncoding.AppendDecode(is.buf[:0], bytesOf(strings.TrimRight(seg, "=")))
	is.buf = raw
	if err != nil {
		return "is not base64url"
	}
	if len(raw) == 0 || raw[0] != '{' {
		return "is not a JSON object"
	}
	if !scanClaims(raw, c) {
		return "is not a valid JSON object of claims"
	}
	return ""
}
