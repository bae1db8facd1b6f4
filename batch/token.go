package batch

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
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
	sum := sha256.Sum256([]byte(t))
	return hex.EncodeToString(sum[:8])
}

// jwtClaims are the payload's claims as JSON has them (encoding/json
// matches "iss" to Iss and so on). A null or absent scope is no scope
// claim; a null exp is no exp.
type jwtClaims struct {
	Iss, Sub, Username string
	TokenUse           string `json:"token_use"`
	Scope              *string
	Exp                *float64
}

// ParseToken decodes an access token's claims and checks that it is an
// access token with the scope SetUserMFAPreference needs. On an error the
// claims read so far are returned too, for the report.
func ParseToken(t Token) (Claims, *RowError) {
	var c Claims
	s := string(t)
	if s == "" {
		return c, rowErr(CodeInvalidRow, "access_token is blank")
	}
	if len(s) > maxTokenLen {
		return c, rowErr(CodeMalformedToken, "access_token is %d bytes, more than a JWT can be (%d)", len(s), maxTokenLen)
	}
	p, err := readJWT(s)
	if err != nil {
		return c, err
	}
	c.Issuer, c.Sub, c.Username = p.Iss, p.Sub, p.Username
	c.Region, c.Pool = issuerPool(p.Iss)
	if p.Exp == nil || math.IsNaN(*p.Exp) || *p.Exp < 0 || *p.Exp > 1<<40 {
		return c, rowErr(CodeMalformedToken, "access_token has no valid exp claim")
	}
	c.Exp = time.Unix(int64(*p.Exp), 0).UTC()
	if p.TokenUse == "id" {
		return c, rowErr(CodeNotAccessToken, "this is an ID token (token_use \"id\"): SetUserMFAPreference needs the user's access token")
	}
	if p.TokenUse != "access" {
		return c, rowErr(CodeNotAccessToken, "token_use is %q, not \"access\"", p.TokenUse)
	}
	if p.Scope != nil && !slices.Contains(strings.FieldsFunc(*p.Scope, isSpace), adminScope) {
		return c, rowErr(CodeMissingScope, "the token's scope lacks %s, which SetUserMFAPreference needs: request it in the app client's OAuth scopes", adminScope)
	}
	if p.Sub == "" {
		return c, rowErr(CodeMalformedToken, "access_token has no sub claim")
	}
	return c, nil
}

// readJWT checks that s is a JWT and reads its payload's claims. Its
// errors describe the problem, never quote the token.
func readJWT(s string) (jwtClaims, *RowError) {
	var p jwtClaims
	if i := indexNotBase64URL(s); i >= 0 {
		return p, rowErr(CodeMalformedToken, "access_token is not a JWT: byte %d is not base64url or a dot", i+1)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return p, rowErr(CodeMalformedToken, "access_token is not a JWT: it has %d dot-separated parts, not 3", len(parts))
	}
	if err := decodeSegment(parts[0], nil); err != "" {
		return p, rowErr(CodeMalformedToken, "access_token is not a JWT: its header %s", err)
	}
	if parts[2] == "" {
		return p, rowErr(CodeMalformedToken, "access_token is not a JWT: its signature is empty")
	}
	if err := decodeSegment(parts[1], &p); err != "" {
		return p, rowErr(CodeMalformedToken, "access_token is not a JWT: its payload %s", err)
	}
	return p, nil
}

// decodeSegment decodes a base64url segment (trailing padding tolerated)
// holding a JSON object into v; with v nil, as for the header, whose
// fields the tool does not read, it only checks the object. It returns a
// description of the problem, never the segment itself.
func decodeSegment(seg string, v *jwtClaims) string {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	switch {
	case err != nil:
		return "is not base64url"
	case len(raw) == 0 || raw[0] != '{':
		return "is not a JSON object"
	case v == nil && !json.Valid(raw), v != nil && json.Unmarshal(raw, v) != nil:
		return "is not a valid JSON object of claims"
	}
	return ""
}

// cognitoIssuer is a Cognito user pool's issuer,
// https://cognito-idp.REGION.amazonaws.com/POOL (.com.cn in China).
var cognitoIssuer = regexp.MustCompile(`^https://cognito-idp\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?(/[^?#]*)?$`)

// issuerPool is the region and user pool ID of a Cognito issuer; empty
// for any other.
func issuerPool(iss string) (region, pool string) {
	m := cognitoIssuer.FindStringSubmatch(iss)
	if m == nil {
		return "", ""
	}
	return m[1], strings.Trim(m[2], "/")
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

// isSpace is JSON's and OAuth's idea of white space between scopes: ASCII
// only.
func isSpace(r rune) bool { return strings.ContainsRune(" \t\n\r\v\f", r) }
