package report

import (
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strconv"

	"github.com/mfabatch/mfabatch/batch"
)

// Done is the rows that an earlier report shows succeeded: token rows by
// their token's fingerprint, admin rows by their pool and username (64
// bits of FNV-1a hash: some 20 bytes a row). The two never match each
// other: a token run's report skips no admin row, and the reverse.
//
// A row whose state the earlier run read keeps it (batch.Prior, 2 bytes
// more), so that the resumed run's report still says what to roll back;
// rows of runs without reads cost nothing more.
type Done struct {
	tokens, users map[uint64]struct{}
	priors        [2]map[uint64]uint16 // by token, by user
}

func newDone() *Done {
	return &Done{tokens: map[uint64]struct{}{}, users: map[uint64]struct{}{},
		priors: [2]map[uint64]uint16{{}, {}}}
}

// Has reports whether the row named by k succeeded.
func (d *Done) Has(k batch.DoneKey) bool {
	_, ok := d.Prior(k)
	return ok
}

// Prior reports whether the row named by k succeeded, with what the
// earlier report said of its state.
func (d *Done) Prior(k batch.DoneKey) (batch.Prior, bool) {
	set, kind, key := d.tokens, 0, uint64(0)
	if k.TokenSHA256 == "" {
		if k.Username == "" {
			return batch.Prior{}, false
		}
		set, kind, key = d.users, 1, UserKey(k.UserPoolID, k.Username)
	} else {
		fp, err := strconv.ParseUint(k.TokenSHA256, 16, 64)
		if err != nil {
			return batch.Prior{}, false
		}
		key = fp
	}
	if _, ok := set[key]; !ok {
		return batch.Prior{}, false
	}
	return batch.UnpackPrior(d.priors[kind][key]), true
}

// Len is how many rows succeeded.
func (d *Done) Len() int { return len(d.tokens) + len(d.users) }

// UserKey names an admin row's user in 64 bits: FNV-1a of its pool and
// username.
func UserKey(pool, username string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(pool))
	h.Write([]byte{0})
	h.Write([]byte(username))
	return h.Sum64()
}

// add counts a row that succeeded, that an earlier resume skipped because
// it had (a resumed run's report is as good as the first), or that was
// already as asked (Unchanged). A row
// with a token fingerprint is a token row; one without, an admin row.
func (d *Done) add(r Row) error {
	if r.Status != string(batch.StatusSucceeded) && !(r.Status == string(batch.StatusSkipped) && (r.ErrorCode == batch.CodeAlreadySucceeded || r.ErrorCode == batch.CodeUnchanged)) {
		return nil
	}
	if r.TokenSHA256 == "" {
		if r.UserPoolID == "" || r.Username == "" {
			return errors.New("a row that succeeded has neither token_sha256 nor user_pool_id and username")
		}
		k := UserKey(r.UserPoolID, r.Username)
		d.users[k] = struct{}{}
		return d.addPrior(1, k, r)
	}
	k, _ := strconv.ParseUint(r.TokenSHA256, 16, 64) // the Reader checked it
	d.tokens[k] = struct{}{}
	return d.addPrior(0, k, r)
}

// addPrior keeps what r says of its user's state, when it says anything.
func (d *Done) addPrior(kind int, k uint64, r Row) error {
	if r.Before == "" && r.After == "" && r.Action == "" {
		return nil
	}
	var p batch.Prior
	var err error
	if p.Before, err = batch.ParseState(r.Before); err != nil {
		return fmt.Errorf("column before: %w", err)
	}
	if p.After, err = batch.ParseState(r.After); err != nil {
		return fmt.Errorf("column after: %w", err)
	}
	switch r.Action {
	case "", batch.ActionChange, batch.ActionNone:
		p.Action = r.Action
	default:
		return errors.New("column action: want change, none or nothing")
	}
	d.priors[kind][k] = p.Pack()
	return nil
}

// ReadDone reads an earlier report, CSV or JSON Lines (see Reader), and
// returns the rows that succeeded. A last line cut short, as a crash
// mid-write leaves it, is ignored; damage anywhere else is an error, since
// guessing could send a row twice or never.
func ReadDone(r io.Reader) (*Done, error) {
	rows, err := NewReader(r, "token_sha256", "status", "error_code")
	if err != nil {
		return nil, err
	}
	done := newDone()
	for {
		row, err := rows.Next()
		var cut *CutError
		switch {
		case err == io.EOF || errors.As(err, &cut):
			return done, nil
		case err != nil:
			return nil, err
		}
		if err := done.add(row); err != nil {
			return nil, fmt.Errorf("report line %d: %w", row.Line, err)
		}
	}
}
