package cognitotest

import (
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Omit, as the value of one of Claims' string fields, leaves that claim out
// of the token, so tests can build tokens that lack it.
const Omit = "-"

// Claims are the claims Token puts in an access token. A blank field takes
// its default; Omit leaves the claim out (Sub, Username, Issuer, TokenUse,
// Scope, ClientID).
type Claims struct {
	// Sub defaults to a UUID derived from PoolID and Username, so that
	// tokens minted for one user name belong to one user; when Username is
	// blank too, to a random UUID.
	Sub string
	// Username defaults to Sub, as in pools that sign in by e-mail.
	Username string
	// Region defaults to "us-east-1".
	Region string
	// PoolID defaults to Region + "_TEST".
	PoolID string
	// Issuer defaults to "https://cognito-idp.<Region>.amazonaws.com/<PoolID>".
	Issuer string
	// TokenUse defaults to "access".
	TokenUse string
	// Scope defaults to "aws.cognito.signin.user.admin".
	Scope string
	// ClientID defaults to "testclient0000000000000000".
	ClientID string
	// Exp defaults to one hour from now. The token is issued (iat,
	// auth_time) now, or an hour before Exp when Exp is not in the future.
	Exp time.Time
}

// tokenHeader is base64url({"alg":"RS256","kid":"test"}).
var tokenHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"test"}`))

// payload lists the claims in the order Cognito writes them.
type payload struct {
	Sub       string `json:"sub,omitempty"`
	Iss       string `json:"iss,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	OriginJTI string `json:"origin_jti"`
	EventID   string `json:"event_id"`
	TokenUse  string `json:"token_use,omitempty"`
	Scope     string `json:"scope,omitempty"`
	AuthTime  int64  `json:"auth_time"`
	Exp       int64  `json:"exp"`
	Iat       int64  `json:"iat"`
	JTI       string `json:"jti"`
	Username  string `json:"username,omitempty"`
}

// Token returns a well-formed but unsigned Cognito access token (a JWT) with
// the given claims, plus origin_jti, event_id, jti, iat and auth_time. Its
// signature is 256 bytes, the size of a real RS256 one, that no key
// verifies. Every call returns a different token, since jti is random.
func Token(c Claims) string {
	region := cmp.Or(c.Region, "us-east-1")
	pool := cmp.Or(c.PoolID, region+"_TEST")
	sub := c.Sub
	if sub == "" {
		if c.Username == "" || c.Username == Omit {
			sub = randomUUID()
		} else {
			sub = derivedUUID(pool + "\x00" + c.Username)
		}
	}
	username := c.Username
	if username == "" {
		username = sub
		if sub == Omit {
			username = randomUUID()
		}
	}
	now := time.Now()
	exp := c.Exp
	if exp.IsZero() {
		exp = now.Add(time.Hour)
	}
	iat := now
	if !exp.After(now) {
		iat = exp.Add(-time.Hour)
	}
	p := payload{
		Sub:       claim(sub),
		Iss:       claim(cmp.Or(c.Issuer, "https://cognito-idp."+region+".amazonaws.com/"+pool)),
		ClientID:  claim(cmp.Or(c.ClientID, "testclient0000000000000000")),
		OriginJTI: randomUUID(),
		EventID:   randomUUID(),
		TokenUse:  claim(cmp.Or(c.TokenUse, "access")),
		Scope:     claim(cmp.Or(c.Scope, "aws.cognito.signin.user.admin")),
		AuthTime:  iat.Unix(),
		Exp:       exp.Unix(),
		Iat:       iat.Unix(),
		JTI:       randomUUID(),
		Username:  claim(username),
	}
	body, err := json.Marshal(p)
	if err != nil {
		panic(err) // strings and integers always marshal
	}
	signed := tokenHeader + "." + base64.RawURLEncoding.EncodeToString(body)
	// The fake signature is derived from the signed part so it looks like
	// one: random-looking and different for every token.
	var sig [256]byte
	_, _ = rand.NewChaCha8(sha256.Sum256([]byte(signed))).Read(sig[:])
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig[:])
}

// claim maps Omit to the blank that omitempty leaves out.
func claim(s string) string {
	if s == Omit {
		return ""
	}
	return s
}

func randomUUID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return formatUUID(b)
}

// derivedUUID returns a UUID that depends only on key.
func derivedUUID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return formatUUID([16]byte(sum[:16]))
}

// formatUUID formats b as a version 4, RFC 4122 variant UUID, as Cognito's
// subs are.
func formatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// usernameClaim reads a token's username claim without verifying the
// token; "" when the token is no JWT or has none.
func usernameClaim(token string) string {
	c, _ := readClaims(token)
	return c.Username
}

// tokenClaims are the claims the server reads from a token.
type tokenClaims struct {
	Iss      string  `json:"iss"`
	Sub      string  `json:"sub"`
	Username string  `json:"username"`
	Exp      float64 `json:"exp"`
}

// readClaims reads a token's claims without verifying the token, and
// reports whether it is a JWT whose payload is a JSON object.
func readClaims(token string) (tokenClaims, bool) {
	var c tokenClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c, false
	}
	// A claim of another type leaves the rest read, but the token unread.
	err = json.Unmarshal(b, &c)
	return c, err == nil
}
