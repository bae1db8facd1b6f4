package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"time"
)

// tokenMaker writes Cognito-style access tokens fast enough for a
// million-row manifest. cognitotest.Token marshals JSON and derives a
// signature per token, which is too slow at that size; here the header,
// the signature and every claim but sub, jti and username are encoded
// once, and each row costs one small base64 encode.
//
// Rows must differ in sub: the tool keys its duplicate-user index on
// issuer and sub, and skips a repeated user without sending it.
type tokenMaker struct {
	header  string // base64url of the JOSE header, with its trailing dot
	sig     string // a dot and a fixed RS256-sized signature
	middle  string // the claims between sub and jti, as JSON
	payload []byte // scratch for one row's payload JSON
}

// issuer is a Cognito user-pool issuer, so the tool finds the region in it.
const issuer = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_BENCHPOOL"

func newTokenMaker(exp time.Time) *tokenMaker {
	enc := base64.RawURLEncoding
	// A real kid is the base64 of a SHA-256, so the header is as long as
	// Cognito's.
	header := `{"kid":"bUi7zaiKq3HjU0lGmOmMfW7o2xqbA3e1RhFQkVsa7Sk=","alg":"RS256"}`
	// A real signature is 256 bytes; its content does not matter, since
	// neither the tool nor the fake server verifies it.
	sig := make([]byte, 256)
	for i := range sig {
		sig[i] = byte(i * 7)
	}
	iat := exp.Add(-time.Hour).Unix()
	middle := fmt.Sprintf(`","iss":%q,"client_id":"5r7kbench0000000000000000","origin_jti":"0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",`+
		`"event_id":"9f8e7d6c-5b4a-4392-8180-7f6e5d4c3b2a","token_use":"access","scope":"aws.cognito.signin.user.admin",`+
		`"auth_time":%d,"exp":%d,"iat":%d,"jti":"`, issuer, iat, exp.Unix(), iat)
	return &tokenMaker{
		header: enc.EncodeToString([]byte(header)) + ".",
		sig:    "." + enc.EncodeToString(sig),
		middle: middle,
	}
}

// appendToken appends the i-th user's token to dst: sub, jti and username
// are derived from i, so each i is a different user.
func (m *tokenMaker) appendToken(dst []byte, i int) []byte {
	p := append(m.payload[:0], `{"sub":"`...)
	p = appendUUID(p, subTag, uint64(i))
	p = append(p, m.middle...)
	p = appendUUID(p, jtiTag, uint64(i))
	p = append(p, `","username":"user`...)
	p = strconv.AppendInt(p, int64(i), 10)
	p = append(p, `"}`...)
	m.payload = p

	dst = append(dst, m.header...)
	dst = base64.RawURLEncoding.AppendEncode(dst, p)
	return append(dst, m.sig...)
}

// token returns the i-th user's token as a string.
func (m *tokenMaker) token(i int) string { return string(m.appendToken(nil, i)) }

// Tags keep a row's sub and jti apart.
const (
	subTag = 0x5b
	jtiTag = 0x1d
)

// appendUUID appends a version-4-shaped UUID made of tag and n.
func appendUUID(dst []byte, tag byte, n uint64) []byte {
	dst = appendHex(dst, uint64(tag), 8)
	dst = append(dst, "-0000-4000-8000-"...)
	return appendHex(dst, n, 12)
}

// appendHex appends n in lower-case hex, zero-padded to width digits.
func appendHex(dst []byte, n uint64, width int) []byte {
	const digits = "0123456789abcdef"
	for shift := 4 * (width - 1); shift >= 0; shift -= 4 {
		dst = append(dst, digits[(n>>uint(shift))&0xf])
	}
	return dst
}

// manifestHeader asks for TOTP enabled and preferred on every row.
const manifestHeader = "id,access_token,software_token_enabled,software_token_preferred\n"

// adminManifestHeader asks for TOTP enabled and preferred on every row,
// by user name in one pool.
const adminManifestHeader = "id,username,user_pool_id,software_token_enabled,software_token_preferred\n"

// benchPool is the admin manifests' pool, in the region of the tokens'
// issuer.
const benchPool = "us-east-1_BENCHPOOL"

// writeAdminManifest writes an admin manifest of n distinct users,
// readable by its owner only, as writeManifest does.
func writeAdminManifest(path string, n int) error {
	return writeLines(path, adminManifestHeader, n, func(line []byte, i int) []byte {
		line = append(line, 'u')
		line = strconv.AppendInt(line, int64(i), 10)
		line = append(line, ",user"...)
		line = strconv.AppendInt(line, int64(i), 10)
		return append(line, ","+benchPool+",true,true\n"...)
	})
}

// writeManifest writes a CSV manifest of n distinct users, readable by its
// owner only: the tool warns about a manifest others can read, and the
// warning would be noise in the measure.
func writeManifest(path string, n int, m *tokenMaker) error {
	return writeLines(path, manifestHeader, n, func(line []byte, i int) []byte {
		line = append(line, 'u')
		line = strconv.AppendInt(line, int64(i), 10)
		line = append(line, ',')
		line = m.appendToken(line, i)
		return append(line, ",true,true\n"...)
	})
}

// writeLines writes header and n lines, the i-th appended by line to an
// empty buffer, to a file at path readable by its owner only.
func writeLines(path, header string, n int, line func(dst []byte, i int) []byte) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.WriteString(header); err != nil {
		return err
	}
	buf := make([]byte, 0, 2048)
	for i := range n {
		buf = line(buf[:0], i)
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return w.Flush()
}
