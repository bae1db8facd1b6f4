package batch

import (
	"encoding/json"
	"testing"
)

// FuzzScanClaims checks scanClaims against encoding/json: the same inputs
// accepted, the same claims read.
func FuzzScanClaims(f *testing.F) {
	for _, s := range []string{
		`{"sub":"s","iss":"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X","token_use":"access","scope":"aws.cognito.signin.user.admin","exp":4102444800,"username":"u"}`,
		`{"SUB":"a","sub":"b","Exp":1.5e3,"scope":null,"iss":null}`,
		`{"x":[1,{"y":[true,false,null,"\u00e9\n"]}],"exp":-0.5E-2}`,
		`{"username":"\ud83d\ude00 caf\u00e9","sub":"\u0000"}`,
		`{"sub":"a" , "exp" : 1 }  `,
		`{"exp":01}`, `{"exp":1.}`, `{"exp":1e999}`, `{"sub":1}`, `{"scope":true}`,
		`{"a":"b",}`, `{"a" "b"}`, `{}`, `{"a":"\x01"}`, "{\"a\":\"\xff\"}", `{"a":[}`,
		`{"sub":"x"}{}`, `{"a":tru}`, `{"a":-}`, `{"a":"\q"}`, `{"a":"\u12"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want struct {
			Iss      string   `json:"iss"`
			Sub      string   `json:"sub"`
			Username string   `json:"username"`
			TokenUse string   `json:"token_use"`
			Scope    *string  `json:"scope"`
			Exp      *float64 `json:"exp"`
		}
		wantOK := json.Unmarshal(b, &want) == nil && len(b) > 0
		var got payloadClaims
		gotOK := scanClaims(b, &got)
		if b := firstNonSpace(b); b != '{' {
			wantOK = false // only objects are payloads
		}
		if gotOK != wantOK {
			t.Fatalf("scanClaims(%q) ok = %v, encoding/json ok = %v", b, gotOK, wantOK)
		}
		if !gotOK {
			return
		}
		var gotScope *string
		if got.hasScope {
			s := string(got.scope)
			gotScope = &s
		}
		if string(got.iss) != want.Iss || got.sub != want.Sub || got.username != want.Username || string(got.tokenUse) != want.TokenUse ||
			!samePtr(gotScope, want.Scope) || !samePtr(got.exp, want.Exp) {
			t.Fatalf("scanClaims(%q) = %+v, encoding/json = %+v", b, got, want)
		}
	})
}

func firstNonSpace(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}

func samePtr[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}
