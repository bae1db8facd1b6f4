package batch

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text the tool did not write is untrusted: a server may echo the caller's
// token in an error's code, message or request id, and a manifest may put
// a token, or part of one, in an id. What reaches the report, the summary
// or a log passes through here first.

// tokenPiece is how many bytes of a token in a row nothing may show.
const tokenPiece = 16

const (
	withheldMessage = "<message withheld: it quoted the access token>"
	withheldValue   = "<withheld>"
)

// maxMessage bounds a message from the service, in bytes.
const maxMessage = 1024

// maxCode bounds an error code: exception names are short words.
const maxCode = 64

// maxRequestID bounds a request id; the service's are UUIDs.
const maxRequestID = 128

// scrub makes a message from elsewhere fit to show: the whole token is
// replaced by its redacted name, the text is cut to maxMessage bytes and
// one line of valid UTF-8, and a message that still quotes any piece of
// the token is withheld.
func scrub(msg, token, fingerprint string) string {
	if msg == "" {
		return msg
	}
	if token != "" {
		msg = strings.ReplaceAll(msg, token, redacted(fingerprint))
	}
	msg = oneLine(cut(msg, maxMessage))
	if quotesToken(msg, token) {
		return withheldMessage
	}
	return msg
}

// scrub makes what the service said about a call fit to show, before
// the report, the log or the failure watch reads it: its error code,
// message and request id. What the call means (Retry, Throttle,
// NoRowCanPass) was read from the code as the service gave it.
func (c *Class) scrub(token, fingerprint string) {
	code, why := showCode(c.Code, token, c.HTTPStatus)
	c.Message = scrub(c.Message, token, fingerprint)
	if why != "" {
		c.Message = "the service's error code is withheld (" + why + "): " + c.Message
	}
	c.Code = code
	c.RequestID = showRequestID(c.RequestID, token)
}

// QuotesSecret reports whether s holds a piece of any of secrets: all of
// one shorter than 16 bytes, or 16 bytes in a row of a longer one.
func QuotesSecret(s string, secrets []string) bool {
	for _, secret := range secrets {
		if secret != "" && quotesToken(s, secret) {
			return true
		}
	}
	return false
}

// scrubCredentials withholds what the service said that quotes any piece
// of the AWS credentials' values (the access key id, the session token),
// after scrub has made it fit to show.
func (c *Class) scrubCredentials(secrets []string) {
	if QuotesSecret(c.Code, secrets) {
		c.Code, _ = showCode("-", "", c.HTTPStatus) // the code for the HTTP status
		c.Message = withheldCredentials
	}
	if QuotesSecret(c.Message, secrets) {
		c.Message = withheldCredentials
	}
	if QuotesSecret(c.RequestID, secrets) {
		c.RequestID = withheldValue
	}
}

const withheldCredentials = "<message withheld: it quoted the AWS credentials>"

// showCode returns code if it can be shown as an error code; otherwise
// a code for the HTTP status in its place, and why.
func showCode(code, token string, status int) (shown, why string) {
	switch {
	case code == "":
		return "", ""
	case !isCode(code):
		why = "it is not an exception name"
	case quotesToken(code, token):
		why = "it quoted the access token"
	default:
		return code, ""
	}
	if status == 0 {
		return "UnknownError", why
	}
	return "HTTP" + strconv.Itoa(status), why
}

// isCode reports whether s is a word of letters and digits, as exception
// names are: no prose, spaces or line breaks in the summary's error list.
func isCode(s string) bool {
	if len(s) > maxCode {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// showRequestID returns id if it looks like a request id and quotes no
// piece of the token, else withheldValue.
func showRequestID(id, token string) string {
	if id == "" {
		return id
	}
	if len(id) > maxRequestID {
		return withheldValue
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !jwtChars[c] && strings.IndexByte(":/+", c) < 0 {
			return withheldValue
		}
	}
	if quotesToken(id, token) {
		return withheldValue
	}
	return id
}

// withholdID blanks an id that quotes a piece of its row's token, as in
// "Bearer <token>" or the token cut in two, and says why. A token shorter
// than a piece is no access token, and its row's id is left for the user
// to find the row by.
func withholdID(id *string, token string) *RowError {
	if len(token) < tokenPiece || !quotesToken(*id, token) {
		return nil
	}
	*id = ""
	return rowErr(CodeInvalidRow, "the id holds part of the access token and is withheld from the report: check the column order")
}

// holdsJWT reports whether s holds something shaped like a JWT: all of s,
// or a part that begins "eyJ" (the base64 of `{"`, which begins every
// JWT's header), as in "Bearer <token>".
func holdsJWT(s string) bool {
	if len(s) >= 40 && strings.Count(s, ".") == 2 && indexNotBase64URL(s) < 0 {
		return true
	}
	for rest := s; ; {
		i := strings.Index(rest, "eyJ")
		if i < 0 {
			return false
		}
		run := rest[i:]
		if n := indexNotBase64URL(run); n >= 0 {
			run = run[:n]
		}
		if len(run) >= 40 && strings.Count(run, ".") >= 2 {
			return true
		}
		rest = rest[i+3:]
	}
}

// quotesToken reports whether s holds tokenPiece bytes of token in a row
// (all of it, for a token shorter than that).
func quotesToken(s, token string) bool {
	if len(token) < tokenPiece {
		return token != "" && strings.Contains(s, token)
	}
	if len(s) < tokenPiece {
		return false
	}
	// A piece lies within a run of bytes the token holds. Tokens are
	// base64url and dots, so s is searched a run of those at a time,
	// unless the token holds one of s's other bytes too.
	var seen [256]bool
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && jwtChars[s[i]] {
			continue
		}
		if i < len(s) && !seen[s[i]] {
			seen[s[i]] = true
			if strings.IndexByte(token, s[i]) >= 0 {
				return holdsPiece(s, token)
			}
		}
		if i-start >= tokenPiece && holdsPiece(s[start:i], token) {
			return true
		}
		start = i + 1
	}
	return false
}

// holdsPiece reports whether s and token have tokenPiece bytes in a row
// in common. Any such run holds one of s's aligned blocks of half that
// length, so only those are looked for in the token, and each match is
// measured out to both sides.
func holdsPiece(s, token string) bool {
	const half = tokenPiece / 2
	for k := 0; k+half <= len(s); k += half {
		block := s[k : k+half]
		for from := 0; ; {
			j := strings.Index(token[from:], block)
			if j < 0 {
				break
			}
			j += from
			if commonSuffix(s[:k], token[:j])+half+commonPrefix(s[k+half:], token[j+half:]) >= tokenPiece {
				return true
			}
			from = j + 1
		}
	}
	return false
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

func commonSuffix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[len(a)-1-n] == b[len(b)-1-n] {
		n++
	}
	return n
}

// cut shortens s to at most n bytes, on a character boundary, marking the
// cut with "...".
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	n -= len("...")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// oneLine makes s one line of valid UTF-8: control characters and line
// separators become spaces, invalid bytes U+FFFD.
func oneLine(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}
