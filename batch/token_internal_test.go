package batch

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// FuzzTokenSegments checks the quick path against the step-by-step one:
// a token quick accepts, with or without the last header remembered, is
// one stepwise accepts, with the same claims.
func FuzzTokenSegments(f *testing.F) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	parts := strings.Split(tok, ".")
	enc := base64.RawURLEncoding.EncodeToString
	for _, s := range []string{
		tok, "", ".", "..", "a.b", "a.b.c.d", tok + "=", tok + ".", tok + "\n",
		parts[0] + "." + parts[1] + ".",
		parts[0] + "==." + parts[1] + "=.sig",
		parts[0] + "." + parts[1][:10] + "\n" + parts[1][10:] + "." + parts[2],
		parts[0] + "." + parts[1][:10] + "\r" + parts[1][10:] + "." + parts[2],
		parts[0] + "." + parts[1][:10] + "=" + parts[1][10:] + "." + parts[2],
		parts[0] + "." + parts[1] + "." + parts[2][:5] + "+" + parts[2][6:],
		parts[0] + "\n." + parts[1] + "." + parts[2],
		enc([]byte(`{"alg":"none"}`)) + "." + parts[1] + "." + parts[2],
		enc([]byte(`[]`)) + "." + parts[1] + "." + parts[2],
		parts[0] + "." + enc([]byte(`{"sub":"s"} x`)) + "." + parts[2],
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want payloadClaims
		werr := (&issuers{}).stepwise(s, &want)
		for _, is := range []*issuers{{}, {header: parts[0]}} {
			var got payloadClaims
			if !is.quick(s, &got) {
				continue
			}
			if werr != nil {
				t.Fatalf("quick accepts %q (header remembered: %v); stepwise says %v", s, is.header != "", werr)
			}
			if string(got.iss) != string(want.iss) || got.sub != want.sub || got.username != want.username ||
				string(got.tokenUse) != string(want.tokenUse) || string(got.scope) != string(want.scope) ||
				got.hasScope != want.hasScope || !samePtr(got.exp, want.exp) {
				t.Fatalf("quick and stepwise read %q differently: %+v, %+v", s, got, want)
			}
		}
	})
}
