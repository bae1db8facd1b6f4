// Package report writes mfabatch's per-row results as CSV or JSON Lines,
// and its run summary as text or JSON.
package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/gocarina/gocsv"
	"github.com/mfabatch/mfabatch/batch"
)

// Columns are the report's columns, in order.
var Columns = []string{
	"row", "id", "username", "sub", "region", "token_sha256", "status",
	"error_code", "error_message", "attempts", "http_status", "request_id",
	"started_at", "duration_ms", "request",
}

// csvRecord is a report row as CSV cells; empty cells mean "none".
type csvRecord struct {
	Row          int    `csv:"row"`
	ID           string `csv:"id"`
	Username     string `csv:"username"`
	Sub          string `csv:"sub"`
	Region       string `csv:"region"`
	TokenSHA256  string `csv:"token_sha256"`
	Status       string `csv:"status"`
	ErrorCode    string `csv:"error_code"`
	ErrorMessage string `csv:"error_message"`
	Attempts     int    `csv:"attempts"`
	HTTPStatus   string `csv:"http_status"`
	RequestID    string `csv:"request_id"`
	StartedAt    string `csv:"started_at"`
	DurationMS   int64  `csv:"duration_ms"`
	Request      string `csv:"request"`
}

// jsonRecord is a report row as a JSON object; request is embedded as an
// object, and http_status is null when no call was made.
type jsonRecord struct {
	Row          int             `json:"row"`
	ID           string          `json:"id"`
	Username     string          `json:"username"`
	Sub          string          `json:"sub"`
	Region       string          `json:"region"`
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
	w *gocsv.SafeCSVWriter
}

// NewCSV writes the header to w and returns a Writer for the rows.
func NewCSV(w io.Writer) (*CSV, error) {
	c := &CSV{rows: rows{out: w}}
	c.w = gocsv.NewSafeCSVWriter(csv.NewWriter(&c.rows))
	if err := c.w.Write(Columns); err != nil {
		return nil, err
	}
	c.w.Flush()
	return c, c.w.Error()
}

// Write adds r's row.
func (c *CSV) Write(r batch.Result) error {
	rec := csvRecord{
		Row: r.Row, ID: r.ID, Username: r.Username, Sub: r.Sub, Region: r.Region,
		TokenSHA256: r.TokenSHA256, Status: string(r.Status), ErrorCode: r.ErrorCode,
		ErrorMessage: r.ErrorMessage, Attempts: r.Attempts, RequestID: r.RequestID,
		StartedAt: startedAt(r), DurationMS: r.Duration.Milliseconds(), Request: r.Request,
	}
	if r.HTTPStatus != 0 {
		rec.HTTPStatus = strconv.Itoa(r.HTTPStatus)
	}
	// gocsv flushes the csv.Writer after each call, so the row is whole.
	if err := gocsv.MarshalCSVWithoutHeaders([]csvRecord{rec}, c.w); err != nil {
		return err
	}
	return c.rowDone()
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
		Row: r.Row, ID: r.ID, Username: r.Username, Sub: r.Sub, Region: r.Region,
		TokenSHA256: r.TokenSHA256, Status: string(r.Status), ErrorCode: r.ErrorCode,
		ErrorMessage: r.ErrorMessage, Attempts: r.Attempts, RequestID: r.RequestID,
		StartedAt: startedAt(r), DurationMS: r.Duration.Milliseconds(),
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
