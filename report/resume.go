package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"
	"strings"

	"github.com/mfabatch/mfabatch/batch"
)

// Done is the rows that an earlier report shows succeeded: token rows by
// their token's fingerprint, admin rows by their pool and username (64
// bits of FNV-1a hash: some 20 bytes a row). The two never match each
// other: a token run's report skips no admin row, and the reverse.
type Done struct {
	tokens map[uint64]struct{}
	users  map[uint64]struct{}
}

func newDone() *Done {
	return &Done{tokens: map[uint64]struct{}{}, users: map[uint64]struct{}{}}
}

// Has reports whether the row named by k succeeded.
func (d *Done) Has(k batch.DoneKey) bool {
	if k.TokenSHA256 == "" {
		_, ok := d.users[userHash(k.UserPoolID, k.Username)]
		return ok && k.Username != ""
	}
	fp, err := strconv.ParseUint(k.TokenSHA256, 16, 64)
	if err != nil {
		return false
	}
	_, ok := d.tokens[fp]
	return ok
}

// Len is how many rows succeeded.
func (d *Done) Len() int { return len(d.tokens) + len(d.users) }

func userHash(pool, username string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(pool))
	h.Write([]byte{0})
	h.Write([]byte(username))
	return h.Sum64()
}

// doneRow is what resume reads of a report row.
type doneRow struct {
	fp, pool, username, status, code string
}

// add counts a row that succeeded, or that an earlier resume skipped
// because it had: a resumed run's report is as good as the first. A row
// with a token fingerprint is a token row; one without, an admin row.
func (d *Done) add(r doneRow) error {
	if r.status != string(batch.StatusSucceeded) && !(r.status == string(batch.StatusSkipped) && (r.code == batch.CodeAlreadySucceeded || r.code == batch.CodeUnchanged)) {
		return nil
	}
	if r.fp == "" {
		if r.pool == "" || r.username == "" {
			return errors.New("a row that succeeded has neither token_sha256 nor user_pool_id and username")
		}
		d.users[userHash(r.pool, r.username)] = struct{}{}
		return nil
	}
	k, err := strconv.ParseUint(r.fp, 16, 64)
	if err != nil || len(r.fp) != 16 {
		// Not quoted: a file made by hand could hold a token here.
		return errors.New("token_sha256 is not 16 hex digits")
	}
	d.tokens[k] = struct{}{}
	return nil
}

// ReadDone reads an earlier report, CSV or JSON Lines (told apart by its
// first byte), and returns the rows that succeeded. A last line cut short,
// as a crash mid-write leaves it, is ignored; damage anywhere else is an
// error, since guessing could send a row twice or never.
func ReadDone(r io.Reader) (*Done, error) {
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

func readDoneCSV(r io.Reader) (*Done, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("report header: %w", err)
	}
	fpCol, statusCol, codeCol, poolCol, userCol := -1, -1, -1, -1, -1
	for i, h := range header {
		switch strings.TrimSpace(h) {
		case "token_sha256":
			fpCol = i
		case "status":
			statusCol = i
		case "error_code":
			codeCol = i
		case "user_pool_id":
			poolCol = i
		case "username":
			userCol = i
		}
	}
	if fpCol < 0 || statusCol < 0 || codeCol < 0 {
		return nil, errors.New("not an mfabatch report: its header lacks token_sha256, status or error_code")
	}
	cell := func(rec []string, i int) string {
		if i < 0 {
			return "" // a report from before admin mode
		}
		return Unescape(rec[i])
	}
	done := newDone()
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
		r := doneRow{fp: cell(rec, fpCol), pool: cell(rec, poolCol), username: cell(rec, userCol), status: cell(rec, statusCol), code: cell(rec, codeCol)}
		if err := done.add(r); err != nil {
			pending = fmt.Errorf("report line %d: %w", line, err)
		}
	}
}

func readDoneJSONL(r *bufio.Reader) (*Done, error) {
	done := newDone()
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
			UserPoolID  string  `json:"user_pool_id"`
			Username    string  `json:"username"`
		}
		if json.Unmarshal(line, &row) != nil {
			pending = fmt.Errorf("report line %d is not a JSON object", n)
			continue
		}
		if row.TokenSHA256 == nil || row.Status == nil || row.ErrorCode == nil {
			return nil, fmt.Errorf("line %d is not an mfabatch report row: it lacks token_sha256, status or error_code", n)
		}
		if err := done.add(doneRow{*row.TokenSHA256, row.UserPoolID, row.Username, *row.Status, *row.ErrorCode}); err != nil {
			pending = fmt.Errorf("report line %d: %w", n, err)
		}
	}
}
