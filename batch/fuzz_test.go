package batch_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mfabatch/mfabatch/batch"
	"github.com/mfabatch/mfabatch/batch/cognitotest"
)

// The fuzz targets run as plain tests on their seeds. To fuzz one (go test
// takes one target per invocation):
//
//	go test -run '^$' -fuzz '^FuzzCSVManifest$' -fuzztime 30s ./batch/
//	go test -run '^$' -fuzz '^FuzzJSONLManifest$' -fuzztime 30s ./batch/
//	go test -run '^$' -fuzz '^FuzzParseFactor$' -fuzztime 30s ./batch/
//	go test -run '^$' -fuzz '^FuzzParseToken$' -fuzztime 30s ./batch/
//	go test -run '^$' -fuzz '^FuzzTokenClaims$' -fuzztime 30s ./batch/
//	go test -run '^$' -fuzz '^FuzzTokenClaims$' -fuzztime 30s ./batch/

// tokenMarker in a manifest fuzz input is replaced by a real-looking access
// token before the manifest is read. Only tokens planted this way are
// checked for leaks: the fuzzer cannot know which of its own bytes a user
// would call a token.
const tokenMarker = "<TOKEN>"

// toolCodes are the contract's own error codes, the only ones a manifest
// row can carry.
var toolCodes = map[string]bool{
	batch.CodeInvalidRow: true, batch.CodeInvalidBoolean: true,
	batch.CodeMalformedToken: true, batch.CodeNotAccessToken: true,
	batch.CodeMissingScope: true, batch.CodeTokenExpired: true,
	batch.CodeMultiplePreferred: true, batch.CodePreferredNotEnabled: true,
	batch.CodeNoSettings: true, batch.CodeDuplicateUser: true,
	batch.CodeConflictingRow: true, batch.CodeInterrupted: true,
}

// plantedToken is the token a fuzz target plants at every tokenMarker.
func plantedToken() string {
	return cognitotest.Token(cognitotest.Claims{Username: "planted", Region: "eu-west-2"})
}

// plant replaces every tokenMarker in raw with tok.
func plant(raw []byte, tok string) []byte {
	return bytes.ReplaceAll(raw, []byte(tokenMarker), []byte(tok))
}

// leakedPiece returns a 16-byte piece of tok that text holds, unless the
// piece is also in raw, the fuzz input before planting, as it is or
// escaped by %q: then the text may quote the fuzzer's own bytes, which is
// no leak.
func leakedPiece(tok string, raw []byte, text string) string {
	quoted := fmt.Sprintf("%q", raw)
	for i := 0; i+16 <= len(tok); i++ {
		if p := tok[i : i+16]; strings.Contains(text, p) && !bytes.Contains(raw, []byte(p)) && !strings.Contains(quoted, p) {
			return p
		}
	}
	return ""
}

// checkMessage asserts what every message shown to a user must be: free of
// the planted token, valid UTF-8 and free of control characters, so that a
// hostile cell cannot write to the user's terminal or split a log line.
func checkMessage(t *testing.T, what, msg, tok string, raw []byte) {
	t.Helper()
	if p := leakedPiece(tok, raw, msg); p != "" {
		t.Errorf("%s %q holds the planted token's piece %q", what, msg, p)
	}
	if !utf8.ValidString(msg) {
		t.Errorf("%s %q is not valid UTF-8", what, msg)
	}
	if i := strings.IndexFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
		t.Errorf("%s %q holds control character %q at byte %d", what, msg, msg[i], i)
	}
}

// checkManifestRows reads m to the end and checks every row's properties:
// numbered 1..n in order, an error code from the contract, no piece of the
// planted token in a message, and the planted token never kept as an id.
// An in-memory manifest has no read errors: every problem is a row's.
func checkManifestRows(t *testing.T, m batch.Manifest, tok string, raw []byte) []batch.Row {
	t.Helper()
	rows, err := readManifest(t, m)
	var me *batch.ModeError
	if err != nil && !errors.As(err, &me) {
		t.Errorf("Next error = %v; a manifest in memory should only have row errors, or name users two ways", err)
	}
	if err != nil {
		checkMessage(t, "Next error", err.Error(), tok, raw)
	}
	checkReadRows(t, rows, tok, raw)
	return rows
}

// checkReadRows checks rows read from a manifest: numbered 1..n in order, an
// error code from the contract, no piece of the planted token in a
// message, and the planted token never kept as an id.
func checkReadRows(t *testing.T, rows []batch.Row, tok string, raw []byte) {
	t.Helper()
	for i, r := range rows {
		if r.N != i+1 {
			t.Errorf("row %d of the %d read has N = %d", i+1, len(rows), r.N)
		}
		if r.ID == tok {
			t.Errorf("row %d: the id is the planted token and was not withheld", r.N)
		}
		if r.Err == nil {
			continue
		}
		if !toolCodes[r.Err.Code] {
			t.Errorf("row %d: code %q is not one of the tool's codes", r.N, r.Err.Code)
		}
		if r.Err.Message == "" {
			t.Errorf("row %d: %s error has no message", r.N, r.Err.Code)
		}
		checkMessage(t, fmt.Sprintf("row %d message", r.N), r.Err.Message, tok, raw)
	}
}

// closeWithin closes c, failing the test if Close does not return in time.
func closeWithin(t *testing.T, c io.Closer) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10s")
	}
}

// waitGoroutines waits for the goroutine count to fall back to n, which it
// does a moment after a reader's goroutine has sent its last value, and
// fails the test, with every goroutine's stack, if it does not.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, %d before reading: a reader leaked one\n%s", runtime.NumGoroutine(), n, buf)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// manifestTokens are literal tokens for the manifest seeds, besides the
// marker: the fuzzer splices their pieces into other inputs.
func manifestTokens() (access, id string) {
	return cognitotest.Token(cognitotest.Claims{Username: "alice"}),
		cognitotest.Token(cognitotest.Claims{Username: "bob", TokenUse: "id"})
}

func FuzzCSVManifest(f *testing.F) {
	access, idTok := manifestTokens()
	for _, s := range []string{
		"",
		"\ufeff",
		"\ufeff\ufeff",
		"\n\n\n",
		"\r\n\r\n",
		" \n\t\n",
		allColumns + "\n",
		"access_token\n" + tokenMarker + "\n",
		"access_token\n" + tokenMarker,
		"\ufeffid,access_token\r\nalice," + tokenMarker + "\r\n\r\nbob," + access + "\r\n",
		"\ufeff\"access_token\"\n" + tokenMarker + "\n",
		"\ufeffid,access_token,sms_enabled\n\"alice\",\"" + tokenMarker + "\",\"TRUE\"\n",
		" ID , Access_Token ,SMS_ENABLED\nalice, " + tokenMarker + " , yes \n",
		allColumns + "\nalice," + tokenMarker + ",true,false,yes,no,1,0,TRUE\nbob," + access + ",,,,,,,\n",
		allColumns + "\ncarol," + tokenMarker + ",maybe,,,,,,\n",
		"id,access_token\n\"a,\"\"b\"\"\nc\"," + tokenMarker + "\n",
		"id,access_token\nal\"ice," + tokenMarker + "\nbob," + tokenMarker + "\n",
		"id,access_token\n\"alice," + tokenMarker + "\nbob,t2\n",
		"id,access_token\n\"alice\"x," + tokenMarker + "\n",
		"id,access_token\nal\x00ice," + tokenMarker + "\x00\n",
		"id,access_token,sms_enabled\n\xff\xfe," + tokenMarker + ",\xc3\x28\n",
		"id,access_token,sms_enabled\nalice," + tokenMarker + ",tr\x00ue\n",
		"access_token,id\nx," + tokenMarker + "\n",
		"access_token,id\nx, \"" + tokenMarker + "\" \n",
		"access_token,id\nx," + idTok + "\n",
		"access_token,sms_enabled\ntrue," + tokenMarker + "\n",
		"access_token,sms_enabled\n" + tokenMarker + "\n" + tokenMarker + ",true,extra\n",
		tokenMarker + "\n",
		"id,username,user_pool_id,sms_enabled\nalice," + tokenMarker + ",eu-west-1_AbC,true\nbob,bob,,yes\n",
		"username,access_token\nalice," + tokenMarker + "\n",
		"id," + tokenMarker + "\n",
		"access_token,x" + tokenMarker + "\n",
		"access_token,\"x" + tokenMarker + "\"\n",
		"access_token,\"\n" + tokenMarker + "\"\n",
		"id,access_token\na\nb,c,d\n,\n",
		"access_token,ACCESS_TOKEN\n",
		"access_token,,sms_enabled\n",
		"id\nalice\n",
		"id,access_token\ralice,t1\rbob,t2\r",
		"id,access_token\n\n  \n,\nalice,t1\n\n\nbob,t2",
		"access_token\n\"\"\"\"\n",
		"\"access_token\n",
	} {
		f.Add([]byte(s))
	}
	tok := plantedToken()
	f.Fuzz(func(t *testing.T, raw []byte) {
		data := plant(raw, tok)
		before := runtime.NumGoroutine()
		m, err := batch.ReadCSV(bytes.NewReader(data))
		if err != nil {
			var he *batch.HeaderError
			var pe *csv.ParseError
			if !errors.Is(err, batch.ErrEmpty) && !errors.As(err, &he) && !errors.As(err, &pe) {
				t.Errorf("ReadCSV error %v (%T) is neither ErrEmpty, a HeaderError nor a header parse error", err, err)
			}
			checkMessage(t, "ReadCSV error", err.Error(), tok, raw)
			waitGoroutines(t, before)
			return
		}
		rows := checkManifestRows(t, m, tok, raw)
		checkStrayQuote(t, data, rows)
		waitGoroutines(t, before)
	})
}

// checkStrayQuote inserts a line with a quote that never closes after the
// header of data, whose rows are rows: it must cost that one row, the
// others read as before.
func checkStrayQuote(t *testing.T, data []byte, rows []batch.Row) {
	t.Helper()
	header, rest, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return
	}
	if _, err := batch.ReadCSV(bytes.NewReader(header)); err != nil {
		return // the header is not on the first line
	}
	stray := slices.Concat(header, []byte("\n\"stray,\n"), rest)
	m, err := batch.ReadCSV(bytes.NewReader(stray))
	if err != nil {
		t.Fatalf("with a stray quote after the header: ReadCSV = %v", err)
	}
	got, err := readManifest(t, m)
	if err != nil {
		t.Fatalf("with a stray quote after the header: Next = %v", err)
	}
	if len(got) != len(rows)+1 || got[0].Err == nil || got[0].Err.Code != batch.CodeInvalidRow {
		t.Fatalf("with a stray quote after the header: %d rows, first %+v; want %d, the first InvalidRow", len(got), got[0], len(rows)+1)
	}
	for i, r := range rows {
		g := got[i+1]
		if g.N != r.N+1 || g.ID != r.ID || g.Token != r.Token || g.Settings != r.Settings || (g.Err == nil) != (r.Err == nil) || g.Err != nil && g.Err.Code != r.Err.Code {
			t.Errorf("with a stray quote after the header, row %d reads %+v, before %+v", g.N, g, r)
		}
	}
}

func FuzzJSONLManifest(f *testing.F) {
	access, idTok := manifestTokens()
	for _, s := range []string{
		"",
		"\ufeff",
		"\n\r\n  \n",
		`{"access_token":"` + tokenMarker + `"}`,
		"\ufeff" + `{"access_token":"` + tokenMarker + `"}` + "\r\n\r\n" + `{"access_token":"` + access + `"}` + "\r\n",
		`{"id":"alice","access_token":"` + tokenMarker + `","sms_enabled":true,"sms_preferred":"yes","software_token_enabled":null,"webauthn_enabled":"0"}`,
		`{"id":7,"AccessToken":"` + tokenMarker + `","SMSMfaSettings":{"Enabled":true,"PreferredMfa":false},"SoftwareTokenMfaSettings":{},"EmailMfaSettings":{"Enabled":"1"},"WebAuthnMfaSettings":{"Enabled":true}}`,
		`{"AccessToken":"` + tokenMarker + `","WebAuthnMfaSettings":{"Enabled":true,"PreferredMfa":true}}`,
		`{"AccessToken":"` + tokenMarker + `","sms_enabled":true}`,
		`{"id":"` + tokenMarker + `","access_token":"x"}`,
		`{"id":" ` + tokenMarker + ` ","access_token":"x"` + "\n" + `{"id":"` + tokenMarker + `"`,
		`{"id":"` + idTok + `","access_token":"` + access + `"}`,
		`{"` + tokenMarker + `":true}`,
		`{"SMSMfaSettings":{"` + tokenMarker + `":1},"AccessToken":"x"}`,
		`{"SMSMfaSettings":{"Enabled":"` + tokenMarker + `"},"AccessToken":"x"}`,
		`{"access_token":"x","sms_enabled":"` + tokenMarker + `"}`,
		`{"access_token":"x","email_enabled":` + tokenMarker + `}`,
		`{"access_token":` + tokenMarker + `}`,
		`{"access_token":["` + tokenMarker + `"]}`,
		`{"id":{"a":1},"access_token":"` + tokenMarker + `"}`,
		tokenMarker,
		"access_token\n" + tokenMarker + "\n",
		`{"access_token":"a"} {"access_token":"b"}`,
		`{"username":"` + tokenMarker + `","user_pool_id":"eu-west-1_AbC","sms_enabled":true}` + "\n" + `{"Username":"bob","UserPoolId":"x","SMSMfaSettings":{}}`,
		`{"username":"bob","sms_enabled":true}` + "\n" + `{"access_token":"` + tokenMarker + `"}`,
		`{"access_token":"` + tokenMarker + `","username":"bob"}`,
		`{"access_token":"a"}garbage`,
		`{"access_token":"a"`,
		`[{"access_token":"a"}]`,
		`{"access_token":"a","access_token":"b"}`,
		`{"access_token":"a\u0000b","id":"\u00e9\ud800"}`,
		"{\"access_token\":\"a\x00b\"}\n\x00\n",
		"{\"id\":\"\xff\xfe\",\"access_token\":\"t\"}\n{\xff}\n",
		`{"id":123456789012345678901234567890,"access_token":"x","sms_enabled":1e400}`,
		`{"id":null,"access_token":null,"sms_enabled":null}`,
		`{"id":true}`,
		`{"id":"` + strings.Repeat("[", 64) + `"}` + "\n" + `{"id":` + strings.Repeat("[", 64),
		`{}`,
		"\ufeff {\"access_token\":\"t\"}",
	} {
		f.Add([]byte(s))
	}
	tok := plantedToken()
	f.Fuzz(func(t *testing.T, raw []byte) {
		before := runtime.NumGoroutine()
		checkManifestRows(t, batch.ReadJSONL(bytes.NewReader(plant(raw, tok))), tok, raw)
		waitGoroutines(t, before)
	})
}

// shorthand formats f as the AWS CLI's shorthand syntax.
func shorthand(f batch.Factor) string {
	var kv []string
	for _, c := range []struct {
		key string
		b   batch.Bool
	}{{"Enabled", f.Enabled}, {"PreferredMfa", f.Preferred}} {
		switch c.b {
		case batch.True:
			kv = append(kv, c.key+"=true")
		case batch.False:
			kv = append(kv, c.key+"=false")
		}
	}
	return strings.Join(kv, ",")
}

func FuzzParseFactor(f *testing.F) {
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	for _, s := range []string{
		"Enabled=true,PreferredMfa=false",
		"Enabled=true",
		"PreferredMfa=true",
		" enabled = TRUE , preferredmfa = 0 ",
		"Enabled=yes,PreferredMfa=no",
		`{"Enabled":true,"PreferredMfa":false}`,
		` {"Enabled":"yes"} `,
		`{"Enabled":1}`,
		`{"enabled":false}`,
		"Enabled=true,Enabled=false",
		"Enabled=true,enabled=false",
		`{"Enabled":true,"enabled":false}`,
		`{"Enabled":true,"Enabled":false}`,
		`{"Enabled":true} x`,
		`{"Enabled":true}}`,
		`{"Enabled":[true]}`,
		`{"Enabled":null}`,
		`{"Enabled":"\"true\""}`,
		`{"Enabled":true,"PreferredMfa":false,"Extra":1}`,
		`{}`,
		`{`,
		"",
		",",
		"=",
		"Enabled",
		"Enabled=",
		"Enabled=,",
		"Enabled=true,",
		"Enabled=true;PreferredMfa=false",
		"Enabled=true=false",
		"Enabled=\x00",
		"Enabled=\xff",
		"\xffEnabled=true",
		tok,
		"Enabled=" + tok,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, passkey bool) {
		got, err := batch.ParseFactor(s, passkey)
		if err != nil {
			if err.Error() == "" {
				t.Errorf("ParseFactor(%q, %v): error with no message", s, passkey)
			}
			return
		}
		if !got.IsSet() {
			t.Errorf("ParseFactor(%q, %v) = %+v, nil: no field set", s, passkey, got)
		}
		if passkey && got.Preferred != batch.Unset {
			t.Errorf("ParseFactor(%q, true) = %+v: a passkey has no PreferredMfa", s, got)
		}
		for _, again := range []string{shorthand(got), strings.NewReplacer("=", `":`, ",", `,"`).Replace(`{"` + shorthand(got) + "}")} {
			back, err := batch.ParseFactor(again, passkey)
			if err != nil || back != got {
				t.Errorf("ParseFactor(%q, %v) = %+v, but its own form %q parses as %+v, %v", s, passkey, got, again, back, err)
			}
		}
	})
}

// tokenMessages are ParseToken's messages for inputs that are wrong in each
// way it checks. Their words are fixed text, so an input that happens to
// contain 16 characters of them is not quoted by a message that does.
func tokenMessages() string {
	seg := b64url
	header := seg(`{"alg":"RS256"}`)
	var msgs []string
	for _, s := range []string{
		"",
		strings.Repeat("a", 1<<20),
		"a b",
		"a.b",
		"a.b.c",
		seg(`[]`) + ".e30.c",
		seg(`{`) + ".e30.c",
		header + ".e30.",
		header + "." + seg(`{"sub":"s"}`) + ".c",
		header + "." + seg(`{"sub":"s","exp":1,"token_use":"id"}`) + ".c",
		header + "." + seg(`{"sub":"s","exp":1,"token_use":"x"}`) + ".c",
		header + "." + seg(`{"sub":"s","exp":1,"token_use":"access","scope":"openid"}`) + ".c",
		header + "." + seg(`{"exp":1,"token_use":"access"}`) + ".c",
	} {
		if _, err := batch.ParseToken(batch.Token(s)); err != nil {
			msgs = append(msgs, err.Message)
		}
	}
	return strings.Join(msgs, "\n")
}

func FuzzParseToken(f *testing.F) {
	for _, c := range []cognitotest.Claims{
		{Username: "alice"},
		{Username: "bob", TokenUse: "id"},
		{Username: "carol", Scope: cognitotest.Omit},
		{Username: "dave", Scope: "openid email"},
		{Username: "erin", Exp: time.Unix(1, 0)},
		{Username: "frank", Sub: cognitotest.Omit},
		{Username: "grace", Issuer: "https://evil.example.com/pool"},
		{Username: "heidi", Region: "cn-north-1", Issuer: "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_X"},
		{Username: cognitotest.Omit, TokenUse: cognitotest.Omit},
	} {
		f.Add(cognitotest.Token(c))
	}
	tok := cognitotest.Token(cognitotest.Claims{Username: "alice"})
	parts := strings.Split(tok, ".")
	for _, s := range []string{
		"",
		".",
		"..",
		"...",
		"a.b",
		"a.b.c.d",
		tok + "=",
		tok + ".",
		" " + tok + " ",
		tok[:len(tok)/2],
		parts[0] + "." + parts[1] + ".",
		parts[0] + "==." + parts[1] + "=.sig",
		parts[1] + "." + parts[0] + "." + parts[2],
		parts[0] + "." + parts[1][1:] + "." + parts[2],
		parts[0] + "." + parts[1][2:] + "." + parts[2],
		parts[0] + "." + parts[1][3:] + "." + parts[2],
		parts[0][1:] + "." + parts[1] + "." + parts[2],
		strings.ReplaceAll(tok, "-", "+"),
		tok[:20] + "\x00" + tok[21:],
		tok[:20] + "\xff" + tok[21:],
		tok + strings.Repeat("A", 16<<10),
		jwtOf(`{"sub":"s","exp":"soon","token_use":"access"}`),
		jwtOf(`{"sub":"s","exp":1e300,"token_use":"access"}`),
		jwtOf(`{"sub":"s","exp":-1,"token_use":"access"}`),
		jwtOf(`{"sub":"s","exp":1099511627776,"token_use":"access"}`),
		jwtOf(`{"sub":"","exp":1,"token_use":"access"}`),
		jwtOf(`{"sub":"s","exp":1,"token_use":"access","scope":null}`),
		jwtOf(`{"sub":"s","exp":1,"token_use":"access","scope":["aws.cognito.signin.user.admin"]}`),
		jwtOf(`{"sub":"s","exp":1,"token_use":"` + strings.Repeat("x", 100) + `"}`),
		jwtOf(`[]`),
		jwtOf(`{"sub":1}`),
		jwtOf(`{"sub":"s","exp":1,"token_use":"access","iss":"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_A"}`),
	} {
		f.Add(s)
	}
	fixed := tokenMessages()
	f.Fuzz(func(t *testing.T, s string) {
		c, rerr := batch.ParseToken(batch.Token(s))
		fp := batch.Fingerprint(batch.Token(s))
		if len(fp) != 16 || strings.Trim(fp, "0123456789abcdef") != "" {
			t.Errorf("Fingerprint = %q, want 16 lowercase hex digits", fp)
		}
		if rerr == nil {
			if c.Exp.IsZero() {
				t.Errorf("ParseToken(%q) succeeded with no Exp", s)
			}
			if c.Sub == "" {
				t.Errorf("ParseToken(%q) succeeded with no Sub", s)
			}
			return
		}
		if !toolCodes[rerr.Code] {
			t.Errorf("ParseToken(%q): code %q is not one of the tool's codes", s, rerr.Code)
		}
		// Every 16-byte piece of the message, looked for in the input: the
		// same check as the other way round, and fast on long inputs.
		for i := 0; i+16 <= len(rerr.Message); i++ {
			if p := rerr.Message[i : i+16]; strings.Contains(s, p) && !strings.Contains(fixed, p) {
				t.Errorf("ParseToken(%q): message %q holds the input's piece %q", s, rerr.Message, p)
				break
			}
		}
	})
}

// FuzzTokenClaims builds a token from fuzzed claims and checks that
// ParseToken reads them back, or refuses the token for the first reason
// the contract gives, in the order it checks them.
func FuzzTokenClaims(f *testing.F) {
	const admin = "aws.cognito.signin.user.admin"
	f.Add("us-east-1", "us-east-1_TEST", "sub-1", "alice", "access", admin, true, 4102444800.0)
	f.Add("eu-west-2", "eu-west-2_AbC", "sub-2", "", "access", "", false, 1.5)
	f.Add("us-gov-west-1", "p", "s", "b", "access", "openid "+admin+"\temail", true, 0.0)
	f.Add("us-east-1", "us-east-1_X", "s", "c", "access", admin+".extra", true, 1e9)
	f.Add("us-east-1", "us-east-1_X", "s", "c", "access", "", true, 1e9)
	f.Add("us-east-1", "us-east-1_X", "s", "c", "id", admin, true, 1e9)
	f.Add("us-east-1", "us-east-1_X", "s", "c", "refresh", admin, true, 1e9)
	f.Add("us-east-1", "us-east-1_X", "", "c", "access", admin, true, 1e9)
	f.Add("us-east-1", "us-east-1_X", "s", "c", "access", admin, true, -1.0)
	f.Add("us-east-1", "us-east-1_X", "s", "c", "access", admin, true, 1e300)
	f.Add("us-east-1", "us-east-1_X", "s", "c", "access", admin, true, 1099511627776.5)
	f.Add("east", "pool", "s", "c", "access", admin, true, 1e9)
	f.Add("us-east-1-", "pool", "s", "c", "access", admin, true, 1e9)
	f.Add("us-east-1", "us-east-1_X", "\u00e9\"\\\n", "\x00<&>", "access", admin, true, 1e9)
	f.Fuzz(func(t *testing.T, region, pool, sub, username, tokenUse, scope string, hasScope bool, exp float64) {
		if math.IsNaN(exp) || math.IsInf(exp, 0) {
			t.Skip("JSON has no NaN or infinity")
		}
		for _, s := range []string{region, pool, sub, username, tokenUse, scope} {
			if !utf8.ValidString(s) {
				t.Skip("JSON strings are UTF-8")
			}
		}
		iss := "https://cognito-idp." + region + ".amazonaws.com/" + pool
		claims := map[string]any{"iss": iss, "sub": sub, "username": username, "token_use": tokenUse, "exp": exp}
		if hasScope {
			claims["scope"] = scope
		}
		payload, err := json.Marshal(claims)
		if err != nil {
			t.Fatal(err)
		}
		tok := jwtOf(string(payload))
		if len(tok) > 16<<10 {
			t.Skip("longer than any JWT")
		}
		got, rerr := batch.ParseToken(batch.Token(tok))

		var wantCode string
		switch {
		case exp < 0 || exp > 1<<40:
			wantCode = batch.CodeMalformedToken
		case tokenUse != "access":
			wantCode = batch.CodeNotAccessToken
		case hasScope && !slices.Contains(strings.FieldsFunc(scope, func(r rune) bool { return strings.ContainsRune(" \t\n\r\v\f", r) }), admin):
			wantCode = batch.CodeMissingScope
		case sub == "":
			wantCode = batch.CodeMalformedToken
		}
		if rerr != nil && rerr.Code != wantCode || rerr == nil && wantCode != "" {
			t.Fatalf("ParseToken(%s) = %v, want code %q", payload, rerr, wantCode)
		}
		if got.Issuer != iss || got.Sub != sub || got.Username != username {
			t.Errorf("ParseToken(%s) read %+v", payload, got)
		}
		if wantCode == "" && !got.Exp.Equal(time.Unix(int64(exp), 0)) {
			t.Errorf("ParseToken(%s) read exp %v, want %v", payload, got.Exp, time.Unix(int64(exp), 0).UTC())
		}
		// A region is one the issuer was built with; with a plain region
		// and pool the region is all of it and the pool follows.
		if strings.Trim(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" ||
			strings.Trim(pool, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != "" {
			return
		}
		if got.Region != "" && (got.Region != region || got.Pool != pool) {
			t.Errorf("issuer %q gives region %q and pool %q", iss, got.Region, got.Pool)
		}
		if slices.Contains([]string{"us-east-1", "eu-west-2", "us-gov-west-1", "ap-southeast-2"}, region) && got.Region != region {
			t.Errorf("issuer %q gives region %q, want %q", iss, got.Region, region)
		}
	})
}
