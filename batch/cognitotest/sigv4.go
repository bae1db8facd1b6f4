package cognitotest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The credentials every server trusts from the start, of the shape AWS
// gives them: an IAM user's long-term key, a role session's temporary key
// with its session token, and a session key that has expired. Tests sign
// admin calls with them; a test's leak checks look for them.
var (
	TestCredentials = aws.Credentials{
		AccessKeyID:     "AKIA2MFABATCHTEST7QX",
		SecretAccessKey: "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",
		Source:          "cognitotest",
	}
	TestSessionCredentials = aws.Credentials{
		AccessKeyID:     "ASIA2MFABATCHSESS4KZ",
		SecretAccessKey: "9dUVrJ3kq+Rv0aLm/TsZp8yHcWnEoGfBx6iQ1MNT",
		SessionToken:    sessionToken("role session"),
		Source:          "cognitotest",
	}
	TestExpiredCredentials = aws.Credentials{
		AccessKeyID:     "ASIA2MFABATCHEXPD9RW",
		SecretAccessKey: "Lq7oPz2xVbN5cR8tYw1KsJ4hGf6dDa3eUm0iXyTo",
		SessionToken:    sessionToken("expired session"),
		CanExpire:       true,
		Expires:         time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		Source:          "cognitotest",
	}
)

// sessionToken makes a session token as long as STS's (about 900
// characters of base64), derived from seed.
func sessionToken(seed string) string {
	var b []byte
	sum := sha256.Sum256([]byte(seed))
	for len(b) < 660 {
		sum = sha256.Sum256(sum[:])
		b = append(b, sum[:]...)
	}
	return "IQoJb3JpZ2luX2VjE" + base64.StdEncoding.EncodeToString(b[:660])
}

const (
	signingAlgorithm = "AWS4-HMAC-SHA256"
	signingService   = "cognito-idp"
	amzDateFormat    = "20060102T150405Z"
	// maxClockSkew is how far a request's X-Amz-Date may be from the
	// server's clock, as AWS allows.
	maxClockSkew = 15 * time.Minute
)

// The service's answers to a request it cannot authenticate.
var (
	errMissingAuth   = &protocolError{"MissingAuthenticationTokenException", "Missing Authentication Token"}
	errUnknownKey    = &protocolError{"UnrecognizedClientException", "The security token included in the request is invalid."}
	errExpiredToken  = &protocolError{"ExpiredTokenException", "The security token included in the request is expired"}
	errBadSignature  = &protocolError{"InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	errWrongRegion   = &protocolError{"InvalidSignatureException", "Credential should be scoped to a valid region. "}
	errWrongService  = &protocolError{"InvalidSignatureException", "Credential should be scoped to correct service: 'cognito-idp'. "}
	errSignatureDate = &protocolError{"InvalidSignatureException", "Signature expired or not yet valid: X-Amz-Date is missing, malformed, more than 15 minutes from the server's time, or not the date of the credential scope."}
)

// authorization is a SigV4 Authorization header, taken apart.
type authorization struct {
	accessKeyID, date, region, service string
	signedHeaders                      []string
	signature                          string
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/
// SERVICE/aws4_request, SignedHeaders=a;b, Signature=HEX".
func parseAuthorization(h string) (authorization, *protocolError) {
	incomplete := &protocolError{"IncompleteSignatureException",
		"Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters of algorithm " + signingAlgorithm + "."}
	var a authorization
	rest, ok := strings.CutPrefix(h, signingAlgorithm+" ")
	if !ok {
		return a, incomplete
	}
	fields := map[string]string{}
	for f := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return a, incomplete
	}
	a = authorization{accessKeyID: scope[0], date: scope[1], region: scope[2], service: scope[3],
		signedHeaders: strings.Split(fields["SignedHeaders"], ";"), signature: fields["Signature"]}
	return a, nil
}

// Trust makes the server accept admin calls signed with creds, besides
// the Test credentials. Credentials that can expire and have are
// answered ExpiredTokenException.
func (s *Server) Trust(creds aws.Credentials) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trusted[creds.AccessKeyID] = creds
}

func (s *Server) credentials(accessKeyID string) (aws.Credentials, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	creds, ok := s.trusted[accessKeyID]
	return creds, ok
}

// authenticate checks a call's SigV4 signature as the service does,
// recording in c who signed it and whether the signature holds. region is
// the region the call must be signed for, "" for any.
func (s *Server) authenticate(r *http.Request, body []byte, region string, c *Call) *protocolError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return errMissingAuth
	}
	a, perr := parseAuthorization(h)
	if perr != nil {
		return perr
	}
	c.AccessKeyID, c.SigningRegion = a.accessKeyID, a.region
	c.SessionToken = r.Header.Get("X-Amz-Security-Token")
	creds, ok := s.credentials(a.accessKeyID)
	switch {
	case !ok || r.Header.Get("X-Amz-Security-Token") != creds.SessionToken:
		return errUnknownKey
	case creds.Expired():
		return errExpiredToken
	case a.service != signingService:
		return errWrongService
	case region != "" && a.region != region:
		return errWrongRegion
	}
	at, err := time.Parse(amzDateFormat, r.Header.Get("X-Amz-Date"))
	if err != nil || at.Format("20060102") != a.date || time.Since(at).Abs() > maxClockSkew {
		return errSignatureDate
	}
	want, err := sign(r, body, creds, a, at)
	if err != nil || !slices.Equal(want.signedHeaders, a.signedHeaders) ||
		!hmac.Equal([]byte(want.signature), []byte(a.signature)) {
		return errBadSignature
	}
	c.Verified = true
	return nil
}

// sign signs again, with the SDK's own signer, the part of r that a says
// was signed, and returns the Authorization that comes of it.
func sign(r *http.Request, body []byte, creds aws.Credentials, a authorization, at time.Time) (authorization, error) {
	req, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return authorization{}, err
	}
	req.Host = r.Host
	for _, name := range a.signedHeaders {
		switch name {
		case "host":
		case "content-length":
			req.ContentLength = r.ContentLength
		default:
			req.Header[http.CanonicalHeaderKey(name)] = r.Header.Values(name)
		}
	}
	// The payload's hash is signed; a header claiming another is a body
	// changed on the way.
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && claimed != hash {
		return authorization{}, errors.New("the payload's hash is not the body's")
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, a.service, a.region, at); err != nil {
		return authorization{}, err
	}
	got, perr := parseAuthorization(req.Header.Get("Authorization"))
	if perr != nil {
		return authorization{}, errors.New(perr.message)
	}
	return got, nil
}
