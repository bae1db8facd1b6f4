package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Row is a report row as the tool's own readers need it (--resume,
// rollback), its cells as they were before a CSV report escaped them.
type Row struct {
	Line        int // the report line the row starts on
	Row         int // the manifest row; 0 when the report has no row column
	ID          string
	Username    string
	UserPoolID  string
	TokenSHA256 string // "" or 16 lower-case hex digits
	Status      string
	ErrorCode   string
	Request     string // the request as JSON text; "" for none
	Action      string
	Before      string
	After       string
}

// Sent reads the row's request: the factors whose blocks it sent, as
// batch.State numbers them (0 SMS, 1 TOTP, 2 email), and whether it sent
// a passkey block. ok is false for a request that is empty, unreadable or
// sends no block.
func (r Row) Sent() (factors []int, passkey, ok bool) {
	var req struct {
		SMSMfaSettings, SoftwareTokenMfaSettings, EmailMfaSettings, WebAuthnMfaSettings json.RawMessage
	}
	if json.Unmarshal([]byte(r.Request), &req) != nil {
		return nil, false, false
	}
	sent := func(b json.RawMessage) bool { return len(b) > 0 && string(b) != "null" }
	for i, b := range []json.RawMessage{req.SMSMfaSettings, req.SoftwareTokenMfaSettings, req.EmailMfaSettings} {
		if sent(b) {
			factors = append(factors, i)
		}
	}
	passkey = sent(req.WebAuthnMfaSettings)
	return factors, passkey, len(factors) > 0 || passkey
}

// CutError is a report whose last line is cut short, as a run killed
// mid-write leaves it: the row on it cannot be read.
type CutError struct{ Line int }

func (e *CutError) Error() string {
	return fmt.Sprintf("report line %d is cut short, as a run stopped mid-write leaves it", e.Line)
}

// damage is a record that cannot be read: an error, unless the record is
// the report's last (see CutError).
type damage struct {
	line int
	err  error
}

func (d *damage) Error() string { return d.err.Error() }

// damaged is err at line.
func damaged(line int, err error) *damage {
	return &damage{line, fmt.Errorf("report line %d: %w", line, err)}
}

// Reader reads a report's rows, CSV or JSON Lines, told apart by the
// first byte. It streams: memory does not grow with the report.
type Reader struct {
	read func() (Row, error) // the next record; a *damage when it cannot be read
}

// NewReader reads a report from r. required are the columns (JSON keys)
// every row must have: a CSV report's header lacking one is not a report
// the caller can read, nor is a JSON Lines row lacking one.
func NewReader(r io.Reader, required ...string) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := br.Peek(1)
	if err == io.EOF {
		return nil, errors.New("the report is empty")
	}
	if err != nil {
		return nil, err
	}
	rr := &Reader{}
	if first[0] == '{' {
		j := &jsonlRows{r: br, required: required}
		rr.read = j.read
		return rr, nil
	}
	c, err := newCSVRows(br, required)
	if err != nil {
		return nil, err
	}
	rr.read = c.read
	return rr, nil
}

// Next returns the next row, or io.EOF after the last. A record that
// cannot be read is an error naming its line, or a *CutError when it is
// the last.
func (r *Reader) Next() (Row, error) {
	row, err := r.read()
	var d *damage
	if !errors.As(err, &d) {
		return row, err
	}
	if _, err := r.read(); err == io.EOF {
		return Row{}, &CutError{Line: d.line}
	}
	return Row{}, d
}

// check reads the cells every reader relies on: the row number and the
// token fingerprint (a hand-made file could hold a token there, so the
// value is never quoted).
func (row *Row) check(rowText string) error {
	if rowText != "" {
		n, err := strconv.Atoi(rowText)
		if err != nil || n < 1 || n > math.MaxInt32 {
			return fmt.Errorf("column row: %q is not a row number", clipCell(rowText))
		}
		row.Row = n
	}
	fp := row.TokenSHA256
	if fp == "" {
		return nil
	}
	if _, err := strconv.ParseUint(fp, 16, 64); err != nil || len(fp) != 16 {
		return errors.New("column token_sha256: not 16 hex digits")
	}
	row.TokenSHA256 = strings.ToLower(fp)
	return nil
}

// clipCell shortens a cell quoted in a message.
func clipCell(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// csvRows reads the rows of a CSV report.
type csvRows struct {
	cr    *csv.Reader
	cols  map[string]int // column name to index
	width int
}

func newCSVRows(r io.Reader, required []string) (*csvRows, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("report header: %w", err)
	}
	c := &csvRows{cr: cr, cols: map[string]int{}, width: len(header)}
	for i, h := range header {
		if _, dup := c.cols[strings.TrimSpace(h)]; !dup {
			c.cols[strings.TrimSpace(h)] = i
		}
	}
	var missing []string
	for _, name := range required {
		if _, ok := c.cols[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("not an mfabatch report: its header lacks %s", orList(missing))
	}
	return c, nil
}

func (c *csvRows) read() (Row, error) {
	rec, err := c.cr.Read()
	var pe *csv.ParseError
	switch {
	case errors.As(err, &pe):
		return Row{}, damaged(pe.Line, pe.Err)
	case err != nil:
		return Row{}, err
	}
	line, _ := c.cr.FieldPos(0) // only after a record: FieldPos panics after an error
	if len(rec) != c.width {
		return Row{}, &damage{line, fmt.Errorf("report line %d has %d fields, the header has %d", line, len(rec), c.width)}
	}
	cell := func(name string) string {
		if i, ok := c.cols[name]; ok {
			return Unescape(rec[i])
		}
		return "" // a report older than the column
	}
	row := Row{Line: line, ID: cell("id"), Username: cell("username"), UserPoolID: cell("user_pool_id"),
		TokenSHA256: cell("token_sha256"), Status: cell("status"), ErrorCode: cell("error_code"),
		Request: cell("request"), Action: cell("action"), Before: cell("before"), After: cell("after")}
	if err := row.check(cell("row")); err != nil {
		return Row{}, damaged(line, err)
	}
	return row, nil
}

// orList is names as "a", "a or b", "a, b or c".
func orList(names []string) string {
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// jsonlRows reads the rows of a JSON Lines report.
type jsonlRows struct {
	r        *bufio.Reader
	line     int
	required []string
}

func (j *jsonlRows) read() (Row, error) {
	for {
		text, err := j.r.ReadBytes('\n')
		if len(text) == 0 && err == io.EOF {
			return Row{}, io.EOF
		}
		if err != nil && err != io.EOF {
			return Row{}, err
		}
		j.line++
		if len(bytes.TrimSpace(text)) > 0 {
			return j.parse(text)
		}
	}
}

// parse reads one line of a JSON Lines report.
func (j *jsonlRows) parse(text []byte) (Row, error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(text, &obj) != nil || obj == nil {
		return Row{}, &damage{j.line, fmt.Errorf("report line %d is not a JSON object", j.line)}
	}
	var missing []string
	for _, k := range j.required {
		if _, ok := obj[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return Row{}, fmt.Errorf("report line %d is not an mfabatch report row: it lacks %s", j.line, orList(missing))
	}
	row := Row{Line: j.line}
	fields := map[string]*string{
		"id": &row.ID, "username": &row.Username, "user_pool_id": &row.UserPoolID, "token_sha256": &row.TokenSHA256,
		"status": &row.Status, "error_code": &row.ErrorCode, "action": &row.Action, "before": &row.Before, "after": &row.After,
	}
	for k, p := range fields {
		if v, ok := obj[k]; ok && string(v) != "null" && json.Unmarshal(v, p) != nil {
			return Row{}, damaged(j.line, fmt.Errorf("column %s: want a string", k))
		}
	}
	if req := bytes.TrimSpace(obj["request"]); len(req) > 0 && string(req) != "null" {
		if req[0] != '{' {
			return Row{}, damaged(j.line, errors.New("column request: want an object"))
		}
		row.Request = string(req)
	}
	rowText := ""
	if v, ok := obj["row"]; ok && string(v) != "null" {
		rowText = string(v)
	}
	if err := row.check(rowText); err != nil {
		return Row{}, damaged(j.line, err)
	}
	return row, nil
}
