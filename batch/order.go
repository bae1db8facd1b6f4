package batch

import (
	"io"
	"slices"
	"time"
)

// Rows is a manifest held in memory.
type Rows struct {
	rows []Row
	next int
}

// Next returns the next row.
func (r *Rows) Next() (Row, error) {
	if r.next >= len(r.rows) {
		return Row{}, io.EOF
	}
	r.next++
	return r.rows[r.next-1], nil
}

// Again returns a reader of the same rows from the start.
func (r *Rows) Again() *Rows { return &Rows{rows: r.rows} }

// ByExpiry reads all of m and returns its rows soonest-expiring token
// first, so that more rows are sent before their tokens expire. Rows keep
// their manifest numbers; rows whose token cannot be read come first, as
// they take no time. It holds the whole manifest in memory: a manifest
// that can be sent within its tokens' life (an hour at 25 requests/s is
// 90,000 rows) fits easily.
func ByExpiry(m Manifest) (*Rows, error) {
	type keyed struct {
		row Row
		exp time.Time
	}
	var all []keyed
	is := &issuers{}
	for {
		row, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		var exp time.Time
		if row.Err == nil {
			if c, rerr := parseToken(row.Token, is); rerr == nil {
				exp = c.Exp
			}
		}
		all = append(all, keyed{row, exp})
	}
	slices.SortStableFunc(all, func(a, b keyed) int { return a.exp.Compare(b.exp) })
	rows := make([]Row, len(all))
	for i, k := range all {
		rows[i] = k.row
	}
	return &Rows{rows: rows}, nil
}
