package batch

import (
	"cmp"
	"fmt"
	"regexp"
	"time"
	"unicode"
	"unicode/utf8"
)

// A target is whom a row's call is for, and how the report names them,
// as the row says. Token mode reads it from the access token; another way
// of naming a user is another function that makes a target.
type target struct {
	user        string    // the user, the same in every row that names them
	region      string    // where the user's pool is; "" when the row does not say
	issuer      string    // the token's issuer, to say why a row has no region
	secret      string    // the credential the row holds; it is never shown
	fingerprint string    // names the secret in the report (token_sha256)
	expires     time.Time // when the secret stops working; zero for never
	username    string
	sub         string
	pool        string
	admin       bool      // the call is signed with AWS credentials, not the row's secret
	operation   operation // the call made for the row
}

// tokenTarget is the user an access token names. A row without a token
// has no fingerprint, and one whose token cannot be read still shows what
// could be read of it.
func tokenTarget(row Row) (target, *RowError) {
	c, err := ParseToken(row.Token)
	t := target{
		user:      c.Issuer + "\x00" + c.Sub,
		region:    c.Region,
		issuer:    c.Issuer,
		secret:    string(row.Token),
		expires:   c.Exp,
		username:  c.Username,
		sub:       c.Sub,
		pool:      c.Pool,
		operation: setPreference,
	}
	if row.Token != "" {
		t.fingerprint = Fingerprint(row.Token)
	}
	return t, err
}

// expiresWithin reports whether the target's secret stops working within
// ttl of now.
func (t target) expiresWithin(now time.Time, ttl time.Duration) bool {
	return !t.expires.IsZero() && t.expires.Sub(now) < ttl
}

// adminTarget is the user a row names by username, in the row's pool or
// else in pool (--user-pool-id). The call is signed with the run's AWS
// credentials, so the row holds no secret and nothing expires.
func adminTarget(row Row, pool string) (target, *RowError) {
	pool = cmp.Or(row.UserPoolID, pool)
	t := target{
		user:      pool + "\x00" + row.Username,
		region:    poolRegion(pool),
		username:  row.Username,
		pool:      pool,
		admin:     true,
		operation: adminSetPreference,
	}
	switch {
	case holdsJWT(row.Username):
		t.username = ""
		return t, rowErr(CodeInvalidRow, "the username looks like an access token and is withheld from the report: check the column order")
	case row.Username == "":
		return t, rowErr(CodeInvalidRow, "the username is blank")
	case !validUsername(row.Username):
		t.username = ""
		return t, rowErr(CodeInvalidRow, "the username %q is not one Cognito allows: at most 128 letters, digits, marks, symbols and punctuation, no spaces", clip(row.Username))
	case pool == "":
		return t, rowErr(CodeInvalidRow, "the row has no user_pool_id and no --user-pool-id was given")
	case !poolID.MatchString(pool):
		t.pool = ""
		return t, rowErr(CodeInvalidRow, "user_pool_id %q is not a user pool ID such as eu-west-1_AbC123", clip(pool))
	}
	return t, nil
}

// poolID is a user pool ID: a region (or, on emulators, another prefix),
// an underscore, letters and digits.
var poolID = regexp.MustCompile(`^[\w-]{1,40}_[0-9a-zA-Z]{1,40}$`)

// CheckUserPoolID checks that s is shaped as a user pool ID.
func CheckUserPoolID(s string) error {
	if !poolID.MatchString(s) {
		return fmt.Errorf("%q is not a user pool ID such as eu-west-1_AbC123", clip(s))
	}
	return nil
}

// regionName is an AWS region's name, such as eu-west-1.
var regionName = regexp.MustCompile(`^[a-z]{2}(?:-[a-z]+)+-\d+$`)

// poolRegion is the region a pool ID begins with; "" when its prefix is
// no region, as an emulator's may be.
func poolRegion(pool string) string {
	i := len(pool) - 1
	for i >= 0 && pool[i] != '_' {
		i--
	}
	if i <= 0 || !regionName.MatchString(pool[:i]) {
		return ""
	}
	return pool[:i]
}

// validUsername reports whether Cognito could have a user of this name:
// 1 to 128 letters, marks, symbols, digits and punctuation.
func validUsername(s string) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > 128 {
		return false
	}
	for _, r := range s {
		if !unicode.In(r, unicode.L, unicode.M, unicode.S, unicode.N, unicode.P) {
			return false
		}
	}
	return true
}

// doneKey is how a report names the target's user across runs.
func (t target) doneKey() DoneKey {
	if t.admin {
		return DoneKey{UserPoolID: t.pool, Username: t.username}
	}
	return DoneKey{TokenSHA256: t.fingerprint}
}

// DoneKey names a row's user as a report does, so that a later run can
// tell it was done: a token row by its token's fingerprint, an admin row
// by its pool and username.
type DoneKey struct {
	TokenSHA256 string
	UserPoolID  string
	Username    string
}
