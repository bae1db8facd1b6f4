package main

import (
	"os"
	"strings"

	"github.com/mfabatch/mfabatch/batch/cognitotest"
	"github.com/rogpeppe/go-internal/testscript"
)

// echo answers as a server that quotes the caller's token back: echo-
// users get an error with all of it in the code, message and request id,
// echopiece- users one with pieces of it, echook- users a success whose
// request id is the token.
func echo(user, token string) cognitotest.Reply {
	switch {
	case len(token) < 60:
		return cognitotest.Reply{Fault: cognitotest.APIError}
	case strings.HasPrefix(user, "echo-"):
		return cognitotest.Reply{Fault: cognitotest.APIError, Code: "Bad" + token, Message: "Invalid token " + token, RequestID: token}
	case strings.HasPrefix(user, "echook-"):
		return cognitotest.Reply{RequestID: token}
	}
	return cognitotest.Reply{Fault: cognitotest.APIError, Code: token[:30], Message: "Invalid token " + token[5:40], RequestID: "req-" + token[40:60]}
}

// cmdTLSEndpoint serves the script's endpoint over HTTPS as well, as a
// service behind a private CA: its certificate, for 127.0.0.1, is signed
// by a CA made for the script, whose certificate is ca.pem; other-ca.pem
// is another CA's. $COGNITO_TLS is its URL, and calls counts its calls.
func cmdTLSEndpoint(ts *testscript.TestScript, neg bool, args []string) {
	s := state(ts)
	if neg || len(args) != 0 {
		ts.Fatalf("usage: tlsendpoint")
	}
	ca, err := cognitotest.NewCA("mfabatch script CA")
	ts.Check(err)
	other, err := cognitotest.NewCA("another CA")
	ts.Check(err)
	cert, err := ca.Certificate("127.0.0.1")
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs("ca.pem"), ca.PEM, 0o600))
	ts.Check(os.WriteFile(ts.MkAbs("other-ca.pem"), other.PEM, 0o600))
	srv := cognitotest.NewTLSServer(decide, cert)
	ts.Defer(srv.Close)
	s.srv, s.callsSeen = srv, 0
	ts.Setenv("COGNITO_TLS", srv.URL)
}
