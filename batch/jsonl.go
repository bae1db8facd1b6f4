package batch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// JSONL reads a JSON Lines manifest, one object per non-blank line.
type JSONL struct{ lineManifest }

// ReadJSONL returns a reader for a JSON Lines manifest.
func ReadJSONL(r io.Reader) *JSONL {
	return &JSONL{lineManifest{lines: newLineReader(r), parser: jsonParser{}}}
}

type jsonParser struct{}

func (jsonParser) fresh() (lineParser, error) { return jsonParser{}, nil }

func (jsonParser) parse(n, line int, text []byte) (Row, bool) {
	text = bytes.TrimSpace(text)
	if len(text) == 0 {
		return Row{}, false
	}
	return parseJSONLine(n, line, text), true
}

// apiFactor is one MFA block of the API's input shape.
type apiFactor struct {
	Enabled      json.RawMessage
	PreferredMfa json.RawMessage
}

// jsonRow holds both JSON shapes: the manifest's columns and the API's own
// input (as in files for aws ... --cli-input-json).
type jsonRow struct {
	ID                     json.RawMessage `json:"id"`
	AccessTokenColumn      *string         `json:"access_token"`
	UsernameColumn         *string         `json:"username"`
	UserPoolIDColumn       *string         `json:"user_pool_id"`
	SMSEnabled             json.RawMessage `json:"sms_enabled"`
	SMSPreferred           json.RawMessage `json:"sms_preferred"`
	SoftwareTokenEnabled   json.RawMessage `json:"software_token_enabled"`
	SoftwareTokenPreferred json.RawMessage `json:"software_token_preferred"`
	EmailEnabled           json.RawMessage `json:"email_enabled"`
	EmailPreferred         json.RawMessage `json:"email_preferred"`
	WebAuthnEnabled        json.RawMessage `json:"webauthn_enabled"`

	AccessToken              *string    `json:"AccessToken"`
	Username                 *string    `json:"Username"`
	UserPoolID               *string    `json:"UserPoolId"`
	SMSMfaSettings           *apiFactor `json:"SMSMfaSettings"`
	SoftwareTokenMfaSettings *apiFactor `json:"SoftwareTokenMfaSettings"`
	EmailMfaSettings         *apiFactor `json:"EmailMfaSettings"`
	WebAuthnMfaSettings      *apiFactor `json:"WebAuthnMfaSettings"`
}

// parseJSONLine reads one JSONL row, in either shape.
func parseJSONLine(n, line int, b []byte) Row {
	r := Row{N: n}
	j, err := decodeJSONLine(line, b, &r.ID)
	if err != nil {
		r.Err = err
		return r
	}
	var cells []jsonCell
	if j.api() {
		r.user(j.AccessToken, j.Username, j.UserPoolID)
		cells, r.Err = j.apiCells(line, &r.Settings)
	} else {
		r.user(j.AccessTokenColumn, j.UsernameColumn, j.UserPoolIDColumn)
		cells = j.flatCells(&r.Settings)
	}
	for _, c := range cells {
		if r.Err != nil || isNull(c.raw) {
			continue
		}
		v, err := jsonBool(c.raw)
		if err != nil {
			r.Err = rowErr(CodeInvalidBoolean, "line %d: key %s: %q is %v", line, c.key, clip(jsonText(c.raw)), err)
			continue
		}
		*c.dst = v
	}
	return r
}

// user sets whom the row names from its keys, present or not: a token, or
// a username and pool.
func (r *Row) user(token, username, pool *string) {
	text := func(s *string) string {
		if s == nil {
			return ""
		}
		return strings.TrimSpace(*s)
	}
	r.Token, r.Username, r.UserPoolID = Token(text(token)), text(username), text(pool)
	r.Admin = username != nil || pool != nil
	r.keyed = r.Admin || token != nil
	r.both = r.Admin && token != nil
}

// decodeJSONLine decodes a line into a jsonRow and reads its id into id,
// which a line that cannot be decoded still gives where it can.
func decodeJSONLine(line int, b []byte, id *string) (*jsonRow, *RowError) {
	if b[0] != '{' {
		return nil, rowErr(CodeInvalidRow, "line %d is not a JSON object", line)
	}
	var j jsonRow
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		var only struct{ ID json.RawMessage }
		if json.Unmarshal(b, &only) == nil {
			if v, err := jsonID(only.ID); err == nil && checkID(&v) == nil {
				*id = v
			}
		}
		return nil, rowErr(CodeInvalidRow, "line %d: %s", line, jsonProblem(err))
	}
	if dec.More() {
		return nil, rowErr(CodeInvalidRow, "line %d: more than one JSON value on the line", line)
	}
	v, err := jsonID(j.ID)
	if err != nil {
		return nil, rowErr(CodeInvalidRow, "line %d: key id: %v", line, err)
	}
	*id = v
	if rerr := checkID(id); rerr != nil {
		return nil, rerr
	}
	if j.flat() && j.api() {
		return nil, rowErr(CodeInvalidRow, "line %d mixes manifest keys (access_token, username, sms_enabled, ...) with API keys (AccessToken, Username, SMSMfaSettings, ...): use one shape", line)
	}
	return &j, nil
}

// flat reports whether the row has any of the manifest's keys.
func (j *jsonRow) flat() bool {
	return j.AccessTokenColumn != nil || j.UsernameColumn != nil || j.UserPoolIDColumn != nil || j.SMSEnabled != nil || j.SMSPreferred != nil ||
		j.SoftwareTokenEnabled != nil || j.SoftwareTokenPreferred != nil ||
		j.EmailEnabled != nil || j.EmailPreferred != nil || j.WebAuthnEnabled != nil
}

// api reports whether the row has any of the API's keys.
func (j *jsonRow) api() bool {
	return j.AccessToken != nil || j.Username != nil || j.UserPoolID != nil || j.SMSMfaSettings != nil || j.SoftwareTokenMfaSettings != nil ||
		j.EmailMfaSettings != nil || j.WebAuthnMfaSettings != nil
}

// flatCells are the manifest keys' values and where each goes in s.
func (j *jsonRow) flatCells(s *Settings) []jsonCell {
	return []jsonCell{
		{"sms_enabled", j.SMSEnabled, &s.SMS.Enabled},
		{"sms_preferred", j.SMSPreferred, &s.SMS.Preferred},
		{"software_token_enabled", j.SoftwareTokenEnabled, &s.SoftwareToken.Enabled},
		{"software_token_preferred", j.SoftwareTokenPreferred, &s.SoftwareToken.Preferred},
		{"email_enabled", j.EmailEnabled, &s.Email.Enabled},
		{"email_preferred", j.EmailPreferred, &s.Email.Preferred},
		{"webauthn_enabled", j.WebAuthnEnabled, &s.WebAuthn.Enabled},
	}
}

// apiCells are the API blocks' values and where each goes in s. A block
// that is present is sent even when it is {}.
func (j *jsonRow) apiCells(line int, s *Settings) ([]jsonCell, *RowError) {
	blocks := []struct {
		name string
		f    *apiFactor
		dst  *Factor
	}{
		{"SMSMfaSettings", j.SMSMfaSettings, &s.SMS},
		{"SoftwareTokenMfaSettings", j.SoftwareTokenMfaSettings, &s.SoftwareToken},
		{"EmailMfaSettings", j.EmailMfaSettings, &s.Email},
		{"WebAuthnMfaSettings", j.WebAuthnMfaSettings, &s.WebAuthn},
	}
	var cells []jsonCell
	for _, bl := range blocks {
		if bl.f == nil {
			continue
		}
		if bl.name == "WebAuthnMfaSettings" && bl.f.PreferredMfa != nil {
			return nil, rowErr(CodeInvalidRow, "line %d: WebAuthnMfaSettings takes Enabled only", line)
		}
		cells = append(cells,
			jsonCell{bl.name + ".Enabled", bl.f.Enabled, &bl.dst.Enabled},
			jsonCell{bl.name + ".PreferredMfa", bl.f.PreferredMfa, &bl.dst.Preferred})
		if isNull(bl.f.Enabled) {
			bl.dst.Enabled = False
		}
	}
	return cells, nil
}

type jsonCell struct {
	key string
	raw json.RawMessage
	dst *Bool
}

// jsonText is a JSON value as a person wrote it: a string's contents, or
// the value's text.
func jsonText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func isNull(raw json.RawMessage) bool {
	return raw == nil || string(raw) == "null"
}

// jsonBool reads a JSON boolean or one of the strings ParseBool reads.
func jsonBool(raw json.RawMessage) (Bool, error) {
	switch string(raw) {
	case "true":
		return True, nil
	case "false":
		return False, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return Unset, ErrBadBool
	}
	return ParseBool(s)
}

// jsonID reads an id given as a string or a number.
func jsonID(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s), nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	return "", errors.New("want a string or a number")
}

// jsonProblem words a decoding error without quoting the line, which may
// hold a token.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("key %s: want a %s, not a %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "not valid JSON: the object is cut short"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		key := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fmt.Sprintf("unknown key %q; the keys are id, access_token (or username and user_pool_id), %s, or the API's AccessToken (or Username and UserPoolId), SMSMfaSettings, SoftwareTokenMfaSettings, EmailMfaSettings, WebAuthnMfaSettings", clipName(key), strings.Join(settingsColumns, ", "))
	}
	return "not a JSON object"
}

func jsonKind(k string) string {
	switch k {
	case "ptr", "struct":
		return "object"
	case "slice":
		return "JSON value"
	}
	return k
}
