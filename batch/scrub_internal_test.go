package batch

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// quotesTokenByWindow is quotesToken by its definition, every window of
// the token looked for in s.
func quotesTokenByWindow(s, token string) bool {
	if len(token) < tokenPiece {
		return token != "" && strings.Contains(s, token)
	}
	for i := 0; i+tokenPiece <= len(token); i++ {
		if strings.Contains(s, token[i:i+tokenPiece]) {
			return true
		}
	}
	return false
}

func TestQuotesToken(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	other := cognitotest.Token(cognitotest.Claims{Username: "bob"})
	for _, tc := range []struct {
		s, token string
		want     bool
	}{
		{"", tok, false},
		{tok, tok, true},
		{"Bearer " + tok, tok, true},
		{"x" + tok[100:116] + "y", tok, true},      // exactly a piece
		{"x" + tok[100:115] + "y", tok, false},     // one byte short
		{tok[:16], tok, true},                      // at the start
		{tok[len(tok)-16:], tok, true},             // at the end
		{tok[3:12] + "@" + tok[12:30], tok, true},  // after another byte
		{tok[3:12] + "@" + tok[12:27], tok, false}, // split by a byte the token lacks
		{"alice.smithson@example.com", tok, false},
		{other, tok, true},                                      // the same header
		{other[strings.LastIndexByte(other, '.'):], tok, false}, // its signature
		{"abc", "abc", true},                                    // a short token counts whole
		{"xabcx", "abc", true},
		{"ab", "abc", false},
		{"anything", "", false},
		// A token with bytes a JWT lacks is searched whole.
		{"k=" + "a b c d e f g h i j", "a b c d e f g h i j k", true},
	} {
		if got := quotesToken(tc.s, tc.token); got != tc.want {
			t.Errorf("quotesToken(%.40q, %.20q...) = %v, want %v", tc.s, tc.token, got, tc.want)
		}
	}
}

// quotesToken agrees with its definition on strings that share pieces of
// the token at every offset and length around tokenPiece.
func TestQuotesTokenAgreesWithWindows(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	tok := cognitotest.Token(cognitotest.Claims{Username: "carol"})
	filler := []string{"", "@", "x", " ", "é", "eyJ", ".", "-_"}
	for range 20000 {
		n := tokenPiece - 2 + rnd.IntN(5)
		at := rnd.IntN(len(tok) - n)
		s := filler[rnd.IntN(len(filler))] + tok[at:at+n] + filler[rnd.IntN(len(filler))]
		if rnd.IntN(3) == 0 {
			s = tok[at:at+n/2] + filler[rnd.IntN(len(filler))] + tok[at+n/2:at+n]
		}
		if got, want := quotesToken(s, tok), quotesTokenByWindow(s, tok); got != want {
			t.Fatalf("quotesToken(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestHoldsJWT(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{tok, true},
		{"Bearer " + tok, true},
		{"'" + tok + "'", true},
		{"token: " + tok + ".", true},
		{"x." + tok, true},
		{"alice@example.com", false},
		{"john@mail.very-long-subdomain-of-company.example.com", false},
		{"eyJ.short.x", false},
		{"", false},
	} {
		if got := holdsJWT(tc.s); got != tc.want {
			t.Errorf("holdsJWT(%.50q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestShowCode(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	// A run of the token's letters and digits: a code could be made of it.
	piece := ""
	for i := 0; i+20 <= len(tok) && piece == ""; i++ {
		if isCode(tok[i : i+20]) {
			piece = tok[i : i+20]
		}
	}
	if piece == "" {
		t.Fatal("the token has no 20 letters and digits in a row")
	}
	for _, tc := range []struct {
		code      string
		status    int
		want, why string
	}{
		{"NotAuthorizedException", 400, "NotAuthorizedException", ""},
		{"HTTP503", 503, "HTTP503", ""},
		{"", 0, "", ""},
		{"Rate exceeded", 400, "HTTP400", "it is not an exception name"},
		{"Not\nAuthorized", 400, "HTTP400", "it is not an exception name"},
		{strings.Repeat("A", maxCode+1), 400, "HTTP400", "it is not an exception name"},
		{"Bad" + tok, 400, "HTTP400", "it is not an exception name"},
		{"X" + piece, 500, "HTTP500", "it quoted the access token"},
		{"Weird Code", 0, "UnknownError", "it is not an exception name"},
	} {
		got, why := showCode(tc.code, tok, tc.status)
		if got != tc.want || why != tc.why {
			t.Errorf("showCode(%.30q, %d) = %q, %q; want %q, %q", tc.code, tc.status, got, why, tc.want, tc.why)
		}
	}
}

func TestShowRequestID(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	for _, tc := range []struct{ id, want string }{
		{"", ""},
		{"req-000001", "req-000001"},
		{"3f1c9a2e-7b4d-4c8e-9f10-2a3b4c5d6e7f", "3f1c9a2e-7b4d-4c8e-9f10-2a3b4c5d6e7f"},
		{"YWJj+ZGVm/Zw==:1", "YWJj+ZGVm/Zw==:1"},
		{tok, withheldValue},
		{"req-" + tok[50:70], withheldValue},
		{"req 1", withheldValue},
		{"req-1\nlevel=ERROR", withheldValue},
		{strings.Repeat("a", maxRequestID+1), withheldValue},
	} {
		if got := showRequestID(tc.id, tok); got != tc.want {
			t.Errorf("showRequestID(%.40q) = %q, want %q", tc.id, got, tc.want)
		}
	}
}

func TestScrubMessage(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	fp := Fingerprint(Token(tok))
	for _, tc := range []struct{ msg, want string }{
		{"", ""},
		{"Access Token has been revoked", "Access Token has been revoked"},
		{"Invalid token: " + tok, "Invalid token: <redacted:" + fp + ">"},
		{"Invalid token: " + tok[:40], withheldMessage},
		{"line one\nline two\r\n\x1b[31mred\u2028end", "line one line two   [31mred end"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{strings.Repeat("é", 600), strings.Repeat("é", 510) + "..."},
	} {
		if got := scrub(tc.msg, tok, fp); got != tc.want {
			t.Errorf("scrub(%.40q) = %.60q, want %.60q", tc.msg, got, tc.want)
		}
	}
}

func TestWithholdID(t *testing.T) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	for _, tc := range []struct {
		id, token string
		withheld  bool
	}{
		{"alice@example.com", tok, false},
		{tok[:20], tok, true},
		{"user " + tok[200:220], tok, true},
		{"alice", "a", false}, // a one-letter "token" is no access token
		{"", tok, false},
	} {
		id := tc.id
		err := withholdID(&id, tc.token)
		if got := err != nil; got != tc.withheld || tc.withheld && id != "" || !tc.withheld && id != tc.id {
			t.Errorf("withholdID(%.30q) left %q, %v; want withheld %v", tc.id, id, err, tc.withheld)
		}
	}
}

// BenchmarkWithholdID is the cost the id check adds to every row, for ids
// of the usual kinds, against a token of Cognito's usual length.
func BenchmarkWithholdID(b *testing.B) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	// A real token's RS256 signature is longer: pad it with base64url.
	rnd := rand.New(rand.NewPCG(3, 4))
	pad := make([]byte, 1000-len(tok))
	for i := range pad {
		pad[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[rnd.IntN(64)]
	}
	tok += string(pad)
	for _, id := range []string{"u12345", "alice.smithson@example.com", "3f1c9a2e-7b4d-4c8e-9f10-2a3b4c5d6e7f"} {
		b.Run(id[:5], func(b *testing.B) {
			for b.Loop() {
				s := id
				if withholdID(&s, tok) != nil {
					b.Fatal("withheld")
				}
			}
		})
	}
}
