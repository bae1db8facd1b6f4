package batch

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gocarina/gocsv"
)

// Row is one manifest record.
type Row struct {
	N        int // 1-based record number, header and blank lines not counted
	ID       string
	Token    Token
	Settings Settings
	// Err is set when the record could not be read; the other fields hold
	// what could be.
	Err *RowError
}

// Manifest yields rows in order. Next returns io.EOF after the last row;
// any other error means the manifest cannot be read further.
type Manifest interface {
	Next() (Row, error)
}

// Columns are the manifest's column names, in the order of the skeleton.
var Columns = []string{
	"id", "access_token",
	"sms_enabled", "sms_preferred",
	"software_token_enabled", "software_token_preferred",
	"email_enabled", "email_preferred",
	"webauthn_enabled",
}

// HeaderError is a CSV header the tool will not guess about.
type HeaderError struct{ Msg string }

func (e *HeaderError) Error() string { return "manifest header: " + e.Msg }

// ErrEmpty is returned for a manifest with no header row.
var ErrEmpty = errors.New("manifest is empty: a CSV manifest needs a header row")

// fields is one record's cells by column name, as both formats read them.
type fields struct {
	ID                     string `csv:"id"`
	AccessToken            string `csv:"access_token"`
	SMSEnabled             string `csv:"sms_enabled"`
	SMSPreferred           string `csv:"sms_preferred"`
	SoftwareTokenEnabled   string `csv:"software_token_enabled"`
	SoftwareTokenPreferred string `csv:"software_token_preferred"`
	EmailEnabled           string `csv:"email_enabled"`
	EmailPreferred         string `csv:"email_preferred"`
	WebAuthnEnabled        string `csv:"webauthn_enabled"`
	// Problem carries a record-level read error from the decoder to the row,
	// in the record's own position so it cannot attach to another row.
	Problem string `csv:"#problem"`
}

// row turns cells into a Row, naming the first unreadable column.
func (f *fields) row(n int) Row {
	r := Row{N: n, ID: strings.TrimSpace(f.ID), Token: Token(strings.TrimSpace(f.AccessToken))}
	idErr := checkID(&r.ID)
	if f.Problem != "" {
		r.Err = &RowError{Code: CodeInvalidRow, Message: f.Problem}
		return r
	}
	if idErr != nil {
		r.Err = idErr
		return r
	}
	cells := []struct {
		col string
		val string
		dst *Bool
	}{
		{"sms_enabled", f.SMSEnabled, &r.Settings.SMS.Enabled},
		{"sms_preferred", f.SMSPreferred, &r.Settings.SMS.Preferred},
		{"software_token_enabled", f.SoftwareTokenEnabled, &r.Settings.SoftwareToken.Enabled},
		{"software_token_preferred", f.SoftwareTokenPreferred, &r.Settings.SoftwareToken.Preferred},
		{"email_enabled", f.EmailEnabled, &r.Settings.Email.Enabled},
		{"email_preferred", f.EmailPreferred, &r.Settings.Email.Preferred},
		{"webauthn_enabled", f.WebAuthnEnabled, &r.Settings.WebAuthn.Enabled},
	}
	for _, c := range cells {
		b, err := ParseBool(c.val)
		if err != nil {
			r.Err = rowErr(CodeInvalidBoolean, "column %s: %q is %v", c.col, clip(c.val), err)
			return r
		}
		*c.dst = b
	}
	return r
}

// maxIDBytes bounds an id echoed in the report; ids are user names and
// e-mail addresses.
const maxIDBytes = 1024

// checkID withholds an id that looks like a token or holds one, as when
// columns are swapped or a cell says "Bearer <token>": the id is echoed
// in the report, and tokens never are.
func checkID(id *string) *RowError {
	s := *id
	if len(s) > maxIDBytes {
		*id = ""
		return rowErr(CodeInvalidRow, "the id is %d bytes, more than %d: check the column order", len(s), maxIDBytes)
	}
	if !holdsJWT(s) {
		return nil
	}
	*id = ""
	return rowErr(CodeInvalidRow, "the id looks like an access token and is withheld from the report: check the column order")
}

// clip shortens a value quoted in a message to fewer than 16 bytes: a
// token in the wrong column must not reach a message.
func clip(s string) string {
	if len(s) <= 12 {
		return s
	}
	cut := 12
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// clipName quotes a column or key name whole, so a typo can be read, unless
// it is too long to be a name: then it may be a token, and is clipped.
func clipName(s string) string {
	if len(s) > 40 {
		return clip(s)
	}
	return s
}

// CSV reads a CSV manifest. It streams: rows are decoded one at a time.
type CSV struct {
	rows chan fields
	errc chan error
	stop chan struct{}
	once sync.Once
	n    int
}

// ReadCSV checks the header of a CSV manifest and returns a reader for its
// rows. Close it if it is not read to the end.
func ReadCSV(r io.Reader) (*CSV, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, _ := br.Peek(3); string(bom) == "\ufeff" {
		br.Discard(3)
	}
	limit := &lineLimit{r: br, cut: map[int]bool{}}
	cr := csv.NewReader(limit)
	cr.FieldsPerRecord = -1 // a short or long record is that row's error, not the file's
	cr.ReuseRecord = false
	var header []string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil, ErrEmpty
		}
		if err != nil {
			return nil, fmt.Errorf("manifest header: %w", err)
		}
		if !blank(rec) {
			header = rec
			break
		}
	}
	names, err := checkHeader(header)
	if err != nil {
		return nil, err
	}
	m := &CSV{rows: make(chan fields, rowBuffer), errc: make(chan error, 1), stop: make(chan struct{})}
	dec := &csvDecoder{r: cr, header: names, stop: m.stop, limit: limit}
	go func() {
		m.errc <- gocsv.UnmarshalDecoderToChan(dec, m.rows)
	}()
	return m, nil
}

// Next returns the next row.
func (m *CSV) Next() (Row, error) {
	f, ok := <-m.rows
	if !ok {
		if err := <-m.errc; err != nil {
			m.errc <- err
			return Row{}, fmt.Errorf("manifest: %w", err)
		}
		m.errc <- nil
		return Row{}, io.EOF
	}
	m.n++
	return f.row(m.n), nil
}

// Close stops the decoder if the manifest was not read to the end. It
// does not wait for a read in progress (a pipe may never answer); the
// decoder ends when that read returns.
func (m *CSV) Close() error {
	m.once.Do(func() {
		close(m.stop)
		go func() {
			for range m.rows {
			}
		}()
	})
	return nil
}

var errStopped = errors.New("manifest reading stopped")

// csvDecoder feeds gocsv: the checked header first, then each record with
// its read problem, if any, in the extra #problem column.
type csvDecoder struct {
	r      *csv.Reader
	header []string
	stop   chan struct{}
	sent   bool
	limit  *lineLimit
}

func (d *csvDecoder) GetCSVRow() ([]string, error) {
	if !d.sent {
		d.sent = true
		return append(d.header, "#problem"), nil
	}
	for {
		select {
		case <-d.stop:
			return nil, errStopped
		default:
		}
		rec, err := d.r.Read()
		if err == io.EOF {
			return nil, io.EOF
		}
		out := make([]string, len(d.header)+1)
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			out[len(d.header)] = fmt.Sprintf("line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
			return out, nil
		case err != nil:
			return nil, err
		case blank(rec):
			continue
		}
		copy(out, rec)
		first, _ := d.r.FieldPos(0)
		last, _ := d.r.FieldPos(len(rec) - 1)
		if line, cut := d.limit.wasCut(first, last); cut {
			out[len(d.header)] = fmt.Sprintf("line %d is longer than %d bytes", line, MaxLineBytes)
		} else if len(rec) != len(d.header) {
			out[len(d.header)] = fmt.Sprintf("line %d has %d fields, the header has %d", first, len(rec), len(d.header))
		}
		return out, nil
	}
}

// lineLimit passes a CSV manifest through with every physical line cut at
// MaxLineBytes, so one huge line cannot take unbounded memory; the lines it
// cut are remembered, to be the error of the row that holds them.
type lineLimit struct {
	r        io.Reader
	line     int // 1-based line being read
	n        int // bytes of it so far
	dropping bool
	cut      map[int]bool
}

func (l *lineLimit) Read(p []byte) (int, error) {
	for {
		n, err := l.r.Read(p)
		if l.fast(p[:n]) {
			return n, err
		}
		out := 0
		for _, c := range p[:n] {
			switch {
			case c == '\n':
				l.line++
				l.n, l.dropping = 0, false
			case l.dropping:
				continue
			case l.n >= MaxLineBytes:
				l.dropping = true
				l.cut[l.line+1] = true
				continue
			default:
				l.n++
			}
			p[out] = c
			out++
		}
		if out > 0 || err != nil {
			return out, err
		}
	}
}

// fast takes a chunk in which no line grows past the limit, as in every
// sane manifest, without copying it; it reports false, changing nothing,
// when the chunk needs cutting.
func (l *lineLimit) fast(p []byte) bool {
	if l.dropping {
		return false
	}
	last := bytes.LastIndexByte(p, '\n')
	head := p
	if last >= 0 {
		head = p[:last]
	}
	// The first line continues the current one; later lines start afresh.
	first := bytes.IndexByte(head, '\n')
	if first < 0 {
		first = len(head)
	}
	if l.n+first > MaxLineBytes {
		return false
	}
	for rest := head[min(first+1, len(head)):]; len(rest) > 0; {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			i = len(rest)
		}
		if i > MaxLineBytes {
			return false
		}
		rest = rest[min(i+1, len(rest)):]
	}
	tail := len(p) - last - 1
	if last < 0 {
		tail = l.n + len(p)
	}
	if tail > MaxLineBytes {
		return false
	}
	l.line += bytes.Count(p, []byte{'\n'})
	l.n = tail
	return true
}

// wasCut reports a cut line among lines first to last, forgetting them.
func (l *lineLimit) wasCut(first, last int) (int, bool) {
	found := 0
	for line := range l.cut {
		if line <= last {
			delete(l.cut, line)
			if line >= first && found == 0 {
				found = line
			}
		}
	}
	return found, found != 0
}

func (d *csvDecoder) GetCSVRows() ([][]string, error) {
	return nil, errors.New("csvDecoder reads one row at a time")
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// checkHeader matches column names case-insensitively after trimming and
// refuses unknown, repeated or missing ones: a misspelt column must never
// be ignored.
func checkHeader(header []string) ([]string, error) {
	known := map[string]bool{}
	for _, c := range Columns {
		known[c] = true
	}
	names := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		n := strings.ToLower(strings.TrimSpace(h))
		switch {
		case strings.HasPrefix(n, "eyj"):
			return nil, &HeaderError{fmt.Sprintf("column %d of the first line looks like a token: a CSV manifest's first line must name its columns: %s", i+1, strings.Join(Columns, ", "))}
		case n == "":
			return nil, &HeaderError{fmt.Sprintf("column %d has no name; the columns are: %s", i+1, strings.Join(Columns, ", "))}
		case !known[n]:
			return nil, &HeaderError{fmt.Sprintf("unknown column %q (column %d); the columns are: %s", clipName(h), i+1, strings.Join(Columns, ", "))}
		case seen[n]:
			return nil, &HeaderError{fmt.Sprintf("column %q appears twice", n)}
		}
		seen[n] = true
		names[i] = n
	}
	if !seen["access_token"] {
		return nil, &HeaderError{"no access_token column; the columns are: " + strings.Join(Columns, ", ")}
	}
	return names, nil
}

// MaxLineBytes bounds one JSON Lines record; real rows are a few KiB.
const MaxLineBytes = 1 << 20

// JSONL reads a JSON Lines manifest, one object per non-blank line.
type JSONL struct {
	r    *bufio.Reader
	line int
	n    int
}

// ReadJSONL returns a reader for a JSON Lines manifest.
func ReadJSONL(r io.Reader) *JSONL {
	return &JSONL{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next row.
func (m *JSONL) Next() (Row, error) {
	for {
		line, tooLong, err := m.readLine()
		if err != nil {
			return Row{}, err
		}
		m.line++
		if tooLong {
			m.n++
			return Row{N: m.n, Err: rowErr(CodeInvalidRow, "line %d is longer than %d bytes", m.line, MaxLineBytes)}, nil
		}
		if m.line == 1 {
			line = bytes.TrimPrefix(line, []byte("\ufeff"))
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		m.n++
		return parseJSONLine(m.n, m.line, line), nil
	}
}

// readLine returns the next line without its end. A line over
// MaxLineBytes is skipped and reported, so memory stays bounded.
func (m *JSONL) readLine() (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := m.r.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > MaxLineBytes+2 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if len(buf) == 0 && !tooLong {
				return nil, false, io.EOF
			}
		case err != nil:
			return nil, false, fmt.Errorf("manifest: %w", err)
		}
		buf = bytes.TrimSuffix(bytes.TrimSuffix(buf, []byte("\n")), []byte("\r"))
		if len(buf) > MaxLineBytes {
			tooLong, buf = true, nil
		}
		return buf, tooLong, nil
	}
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
	SMSEnabled             json.RawMessage `json:"sms_enabled"`
	SMSPreferred           json.RawMessage `json:"sms_preferred"`
	SoftwareTokenEnabled   json.RawMessage `json:"software_token_enabled"`
	SoftwareTokenPreferred json.RawMessage `json:"software_token_preferred"`
	EmailEnabled           json.RawMessage `json:"email_enabled"`
	EmailPreferred         json.RawMessage `json:"email_preferred"`
	WebAuthnEnabled        json.RawMessage `json:"webauthn_enabled"`

	AccessToken              *string    `json:"AccessToken"`
	SMSMfaSettings           *apiFactor `json:"SMSMfaSettings"`
	SoftwareTokenMfaSettings *apiFactor `json:"SoftwareTokenMfaSettings"`
	EmailMfaSettings         *apiFactor `json:"EmailMfaSettings"`
	WebAuthnMfaSettings      *apiFactor `json:"WebAuthnMfaSettings"`
}

func parseJSONLine(n, line int, b []byte) Row {
	r := Row{N: n}
	if b[0] != '{' {
		r.Err = rowErr(CodeInvalidRow, "line %d is not a JSON object", line)
		return r
	}
	var j jsonRow
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		r.Err = rowErr(CodeInvalidRow, "line %d: %s", line, jsonProblem(err))
		var only struct{ ID json.RawMessage }
		if json.Unmarshal(b, &only) == nil {
			if id, err := jsonID(only.ID); err == nil && checkID(&id) == nil {
				r.ID = id
			}
		}
		return r
	}
	if dec.More() {
		r.Err = rowErr(CodeInvalidRow, "line %d: more than one JSON value on the line", line)
		return r
	}
	id, err := jsonID(j.ID)
	if err != nil {
		r.Err = rowErr(CodeInvalidRow, "line %d: key id: %v", line, err)
		return r
	}
	r.ID = id
	if r.Err = checkID(&r.ID); r.Err != nil {
		return r
	}
	flat := j.AccessTokenColumn != nil || j.SMSEnabled != nil || j.SMSPreferred != nil ||
		j.SoftwareTokenEnabled != nil || j.SoftwareTokenPreferred != nil ||
		j.EmailEnabled != nil || j.EmailPreferred != nil || j.WebAuthnEnabled != nil
	api := j.AccessToken != nil || j.SMSMfaSettings != nil || j.SoftwareTokenMfaSettings != nil ||
		j.EmailMfaSettings != nil || j.WebAuthnMfaSettings != nil
	if flat && api {
		r.Err = rowErr(CodeInvalidRow, "line %d mixes manifest keys (access_token, sms_enabled, ...) with API keys (AccessToken, SMSMfaSettings, ...): use one shape", line)
		return r
	}
	var cells []jsonCell
	if api {
		if j.AccessToken != nil {
			r.Token = Token(strings.TrimSpace(*j.AccessToken))
		}
		blocks := []struct {
			name string
			f    *apiFactor
			dst  *Factor
		}{
			{"SMSMfaSettings", j.SMSMfaSettings, &r.Settings.SMS},
			{"SoftwareTokenMfaSettings", j.SoftwareTokenMfaSettings, &r.Settings.SoftwareToken},
			{"EmailMfaSettings", j.EmailMfaSettings, &r.Settings.Email},
			{"WebAuthnMfaSettings", j.WebAuthnMfaSettings, &r.Settings.WebAuthn},
		}
		for _, bl := range blocks {
			if bl.f == nil {
				continue
			}
			if bl.name == "WebAuthnMfaSettings" && bl.f.PreferredMfa != nil {
				r.Err = rowErr(CodeInvalidRow, "line %d: WebAuthnMfaSettings takes Enabled only", line)
				return r
			}
			cells = append(cells,
				jsonCell{bl.name + ".Enabled", bl.f.Enabled, &bl.dst.Enabled},
				jsonCell{bl.name + ".PreferredMfa", bl.f.PreferredMfa, &bl.dst.Preferred})
			// An API block that is present is sent even when it is {}.
			if isNull(bl.f.Enabled) {
				bl.dst.Enabled = False
			}
		}
	} else {
		if j.AccessTokenColumn != nil {
			r.Token = Token(strings.TrimSpace(*j.AccessTokenColumn))
		}
		s := &r.Settings
		cells = []jsonCell{
			{"sms_enabled", j.SMSEnabled, &s.SMS.Enabled},
			{"sms_preferred", j.SMSPreferred, &s.SMS.Preferred},
			{"software_token_enabled", j.SoftwareTokenEnabled, &s.SoftwareToken.Enabled},
			{"software_token_preferred", j.SoftwareTokenPreferred, &s.SoftwareToken.Preferred},
			{"email_enabled", j.EmailEnabled, &s.Email.Enabled},
			{"email_preferred", j.EmailPreferred, &s.Email.Preferred},
			{"webauthn_enabled", j.WebAuthnEnabled, &s.WebAuthn.Enabled},
		}
	}
	for _, c := range cells {
		if isNull(c.raw) {
			continue
		}
		b, err := jsonBool(c.raw)
		if err != nil {
			r.Err = rowErr(CodeInvalidBoolean, "line %d: key %s: %q is %v", line, c.key, clip(jsonText(c.raw)), err)
			return r
		}
		*c.dst = b
	}
	return r
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
		return fmt.Sprintf("unknown key %q; the keys are %s, or the API's AccessToken, SMSMfaSettings, SoftwareTokenMfaSettings, EmailMfaSettings, WebAuthnMfaSettings", clipName(key), strings.Join(Columns, ", "))
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
