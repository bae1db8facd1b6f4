package batch

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/url"
	"regexp"
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

var issuerHost = regexp.MustCompile(`^cognito-idp\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$`)

// ParseToken decodes an access token's claims and checks that it is an
// access token with the scope SetUserMFAPreference needs.
func ParseToken(t Token) (Claims, *RowError) {
	var c Claims
	s := string(t)
	if s == "" {
		return c, rowErr(CodeInvalidRow, "access_token is blank")
	}
	if len(s) > maxTokenLen {
		return c, rowErr(CodeMalformedToken, "access_token is %d bytes, more than a JWT can be (%d)", len(s), maxTokenLen)
	}
	if i := strings.IndexFunc(s, notBase64URL); i >= 0 {
		return c, rowErr(CodeMalformedToken, "access_token is not a JWT: byte %d is not base64url or a dot", i+1)
	}
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return c, rowErr(CodeMalformedToken, "access_token is not a JWT: it has %d dot-separated parts, not 3", len(parts))
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := decodeSegment(parts[0], &header); err != "" {
		return c, rowErr(CodeMalformedToken, "access_token is not a JWT: its header %s", err)
	}
	if parts[2] == "" {
		return c, rowErr(CodeMalformedToken, "access_token is not a JWT: its signature is empty")
	}
	var p struct {
		Iss      string   `json:"iss"`
		Sub      string   `json:"sub"`
		Username string   `json:"username"`
		TokenUse string   `json:"token_use"`
		Scope    *string  `json:"scope"`
		Exp      *float64 `json:"exp"`
	}
	if err := decodeSegment(parts[1], &p); err != "" {
		return c, rowErr(CodeMalformedToken, "access_token is not a JWT: its payload %s", err)
	}
	c.Issuer, c.Sub, c.Username = p.Iss, p.Sub, p.Username
	if u, err := url.Parse(p.Iss); err == nil && u.Scheme == "https" {
		if m := issuerHost.FindStringSubmatch(u.Host); m != nil {
			c.Region = m[1]
			c.Pool = strings.Trim(u.Path, "/")
		}
	}
	if p.Exp == nil || math.IsNaN(*p.Exp) || *p.Exp < 0 || *p.Exp > 1<<40 {
		return c, rowErr(CodeMalformedToken, "access_token has no valid exp claim")
	}
	c.Exp = time.Unix(int64(*p.Exp), 0).UTC()
	if p.TokenUse != "access" {
		if p.TokenUse == "id" {
			return c, rowErr(CodeNotAccessToken, "this is an ID token (token_use \"id\"): SetUserMFAPreference needs the user's access token")
		}
		return c, rowErr(CodeNotAccessToken, "token_use is %q, not \"access\"", p.TokenUse)
	}
	if p.Scope != nil && !hasScope(*p.Scope, adminScope) {
		return c, rowErr(CodeMissingScope, "the token's scope lacks %s, which SetUserMFAPreference needs: request it in the app client's OAuth scopes", adminScope)
	}
	if p.Sub == "" {
		return c, rowErr(CodeMalformedToken, "access_token has no sub claim")
	}
	return c, nil
}

func notBase64URL(r rune) bool {
	return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '=')
}

func hasScope(scopes, want string) bool {
	for _, s := range strings.Fields(scopes) {
		if s == want {
			return true
		}
	}
	return false
}

// decodeSegment decodes one base64url JSON segment into v. It returns a
// description of the problem, never the segment itself.
func decodeSegment(seg string, v any) string {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return "is not base64url"
	}
	if len(raw) == 0 || raw[0] != '{' {
		return "is not a JSON object"
	}
	if json.Unmarshal(raw, v) != nil {
		return "is not a valid JSON object of claims"
	}
	return ""
}
