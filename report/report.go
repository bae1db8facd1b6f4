// Package report writes mfabatch's per-row results as CSV or JSON Lines,
// and its run summary as text or JSON.
package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mfabatch/mfabatch/batch"
)

// Columns are the report's columns, in order.
var Columns = []string{
	"row", "id", "username", "sub", "region", "user_pool_id", "token_sha256", "status",
	"error_code", "error_message", "attempts", "http_status", "request_id",
	"started_at", "duration_ms", "request", "action", "before", "after",
}

// jsonRecord is a report row as a JSON object; request is embedded as an
// object, and http_status is null when no call was made.
type jsonRecord struct {
	Row          int             `json:"row"`
	ID           string          `json:"id"`
	Username     string          `json:"username"`
	Sub          string          `json:"sub"`
	Region       string          `json:"region"`
	UserPoolID   string          `json:"user_pool_id"`
	TokenSHA256  string          `json:"token_sha256"`
	Status       string          `json:"status"`
	ErrorCode    string          `json:"error_code"`
	ErrorMessage string          `json:"error_message"`
	Attempts     int             `json:"attempts"`
	HTTPStatus   *int            `json:"http_status"`
	RequestID    string          `json:"request_id"`
	StartedAt    string          `json:"started_at"`
	DurationMS   int64           `json:"duration_ms"`
	Request      json.RawMessage `json:"request"`
	Action       string          `json:"action"`
	Before       string          `json:"before"`
	After        string          `json:"after"`
}

func startedAt(r batch.Result) string {
	if r.StartedAt.IsZero() {
		return ""
	}
	return r.StartedAt.UTC().Format(time.RFC3339Nano)
}

// rows holds whole report rows until they are written out, so the file
// ends between rows whenever the tool stops, unless a write itself is cut.
type rows struct {
	out io.Writer
	buf bytes.Buffer
}

// flushAt is how much a report buffers before writing, at a row's end.
const flushAt = 64 << 10

func (r *rows) Write(p []byte) (int, error) { return r.buf.Write(p) }

// rowDone writes the buffer out once it is large.
func (r *rows) rowDone() error {
	if r.buf.Len() < flushAt {
		return nil
	}
	return r.Flush()
}

// Flush writes every buffered row.
func (r *rows) Flush() error {
	_, err := r.out.Write(r.buf.Bytes())
	r.buf.Reset()
	return err
}

// CSV writes the report as CSV with a header row. It is a batch.Sink:
// Write buffers whole rows, Flush writes them out.
type CSV struct {
	rows
	w     *csv.Writer
	cells []string // one row's cells, reused row after row
}

// NewCSV writes the header to w and returns a Writer for the rows.
func NewCSV(w io.Writer) (*CSV, error) {
	c := &CSV{rows: rows{out: w}, cells: make([]string, 0, len(Columns))}
	c.w = csv.NewWriter(&c.rows)
	if err := c.w.Write(Columns); err != nil {
		return nil, err
	}
	c.w.Flush()
	return c, c.w.Error()
}

// Write adds r's row, its cells in Columns' order; empty cells mean "none".
// A cell a spreadsheet would run as a formula starts with ' (see Unescape).
// The cells are built by hand, not by reflection: the report is written
// once a row, and a struct marshaller cost more than the rest of a dry
// run's row.
func (c *CSV) Write(r batch.Result) error {
	httpStatus := ""
	if r.HTTPStatus != 0 {
		httpStatus = strconv.Itoa(r.HTTPStatus)
	}
	c.cells = append(c.cells[:0],
		strconv.Itoa(r.Row), r.ID, r.Username, r.Sub, r.Region, r.UserPoolID, r.TokenSHA256, string(r.Status),
		r.ErrorCode, r.ErrorMessage, strconv.Itoa(r.Attempts), httpStatus, r.RequestID,
		startedAt(r), strconv.FormatInt(r.Duration.Milliseconds(), 10), r.Request,
		r.Action, r.Before.String(), r.After.String())
	for i, cell := range c.cells {
		c.cells[i] = escape(cell)
	}
	if err := c.w.Write(c.cells); err != nil {
		return err
	}
	// Flushed into rows, which holds it whole until rowDone writes it out.
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return err
	}
	return c.rowDone()
}

// A spreadsheet runs a cell that starts with one of these as a formula.
const formulaStart = "=+-@\t\r"

// escape puts a ' before a cell that a spreadsheet would run as a
// formula: ids and usernames are chosen by end users. A cell that already
// starts with 's before such a character gets one more, so that Unescape
// gives every cell back as it was.
func escape(cell string) string {
	if formulaAfterQuotes(cell) {
		return "'" + cell
	}
	return cell
}

// Unescape gives back a cell of a CSV report as it was before the report
// escaped it; readers of CSV reports call it on every cell.
func Unescape(cell string) string {
	if strings.HasPrefix(cell, "'") && formulaAfterQuotes(cell) {
		return cell[1:]
	}
	return cell
}

// formulaAfterQuotes reports whether cell, after any leading 's, starts
// as a formula does.
func formulaAfterQuotes(cell string) bool {
	rest := strings.TrimLeft(cell, "'")
	return rest != "" && strings.IndexByte(formulaStart, rest[0]) >= 0
}

// JSONL writes the report as JSON Lines, one object per row.
type JSONL struct {
	rows
	enc *json.Encoder
}

// NewJSONL returns a Writer of JSON Lines to w.
func NewJSONL(w io.Writer) *JSONL {
	j := &JSONL{rows: rows{out: w}}
	j.enc = json.NewEncoder(&j.rows)
	j.enc.SetEscapeHTML(false)
	return j
}

// Write adds r's row.
func (j *JSONL) Write(r batch.Result) error {
	rec := jsonRecord{
		Row: r.Row, ID: r.ID, Username: r.Username, Sub: r.Sub, Region: r.Region, UserPoolID: r.UserPoolID,
		TokenSHA256: r.TokenSHA256, Status: string(r.Status), ErrorCode: r.ErrorCode,
		ErrorMessage: r.ErrorMessage, Attempts: r.Attempts, RequestID: r.RequestID,
		StartedAt: startedAt(r), DurationMS: r.Duration.Milliseconds(),
		Action: r.Action, Before: r.Before.String(), After: r.After.String(),
	}
	if r.HTTPStatus != 0 {
		rec.HTTPStatus = &r.HTTPStatus
	}
	if r.Request != "" {
		rec.Request = json.RawMessage(r.Request)
	}
	if err := j.enc.Encode(rec); err != nil {
		return err
	}
	return j.rowDone()
}
