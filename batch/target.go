package batch

import "time"

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
