package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/mfabatch/mfabatch/batch"
)

// Done is the set of rows, by token fingerprint, that an earlier report
// shows succeeded.
type Done map[uint64]struct{}

// Has reports whether the row with this token_sha256 succeeded.
func (d Done) Has(tokenSHA256 string) bool {
	k, err := strconv.ParseUint(tokenSHA256, 16, 64)
	if err != nil {
		return false
	}
	_, ok := d[k]
	return ok
}

// add counts a row that succeeded, or that an earlier resume skipped
// because it had: a resumed run's report is as good as the first.
func (d Done) add(fp, status, code string) error {
	if status != string(batch.StatusSucceeded) && !(status == string(batch.StatusSkipped) && code == batch.CodeAlreadySucceeded) {
		return nil
	}
	k, err := strconv.ParseUint(fp, 16, 64)
	if err != nil || len(fp) != 16 {
		// Not quoted: a file made by hand could hold a token here.
		return errors.New("token_sha256 is not 16 hex digits")
	}
	d[k] = struct{}{}
	return nil
}

// ReadDone reads an earlier report, CSV or JSON Lines (told apart by its
// first byte), and returns the rows that succeeded. A last line cut short,
// as a crash mid-write leaves it, is ignored; damage anywhere else is an
// error, since guessing could send a row twice or never.
func ReadDone(r io.Reader) (Done, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := br.Peek(1)
	if err == io.EOF {
		return nil, errors.New("the report is empty")
	}
	if err != nil {
		return nil, err
	}
	if first[0] == '{' {
		return readDoneJSONL(br)
	}
	return readDoneCSV(br)
}

func readDoneCSV(r io.Reader) (Done, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("report header: %w", err)
	}
	fpCol, statusCol, codeCol := -1, -1, -1
	for i, h := range header {
		switch strings.TrimSpace(h) {
		case "token_sha256":
			fpCol = i
		case "status":
			statusCol = i
		case "error_code":
			codeCol = i
		}
	}
	if fpCol < 0 || statusCol < 0 || codeCol < 0 {
		return nil, errors.New("not an mfabatch report: its header lacks token_sha256, status or error_code")
	}
	done := Done{}
	var pending error // a damaged record, forgiven only if it is the last
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return done, nil
		}
		if pending != nil {
			return nil, pending
		}
		line, _ := cr.FieldPos(0)
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			pending = fmt.Errorf("report line %d: %w", pe.Line, pe.Err)
			continue
		case err != nil:
			return nil, err
		case len(rec) != len(header):
			pending = fmt.Errorf("report line %d has %d fields, the header has %d", line, len(rec), len(header))
			continue
		}
		if err := done.add(Unescape(rec[fpCol]), Unescape(rec[statusCol]), Unescape(rec[codeCol])); err != nil {
			pending = fmt.Errorf("report line %d: %w", line, err)
		}
	}
}

func readDoneJSONL(r *bufio.Reader) (Done, error) {
	done := Done{}
	var pending error
	for n := 1; ; n++ {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			return done, nil
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		if pending != nil {
			return nil, pending
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var row struct {
			TokenSHA256 *string `json:"token_sha256"`
			Status      *string `json:"status"`
			ErrorCode   *string `json:"error_code"`
		}
		if json.Unmarshal(line, &row) != nil {
			pending = fmt.Errorf("report line %d is not a JSON object", n)
			continue
		}
		if row.TokenSHA256 == nil || row.Status == nil || row.ErrorCode == nil {
			return nil, fmt.Errorf("line %d is not an mfabatch report row: it lacks token_sha256, status or error_code", n)
		}
		if err := done.add(*row.TokenSHA256, *row.Status, *row.ErrorCode); err != nil {
			pending = fmt.Errorf("report line %d: %w", n, err)
		}
	}
}
