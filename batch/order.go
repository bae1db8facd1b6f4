package batch

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
)

// Rows is a manifest's rows in another order, each read again from its
// file when its turn comes.
type Rows struct {
	src    io.ReaderAt
	places []place // in the order to read
	gaps   []gap
	m      *lineManifest // reads one row at a time from src
	err    error
	next   int
}

// place is all that is held of a row: where its line starts, its number,
// and when its token expires (Unix seconds, 0 when it cannot be read).
// 16 bytes a row: a million rows take 16 MB.
type place struct {
	off int64
	n   uint32
	exp uint32
}

// gap says that from row n on, until the next gap, row n is on line
// n+lines: the lines in between are the CSV header and blank lines.
type gap struct{ n, lines int }

// ErrNotSeekable is returned by ByExpiry for a manifest it cannot read a
// second time, such as a pipe.
var ErrNotSeekable = errors.New("manifest: --order expiry reads each row twice, and this manifest cannot be read twice (is it a pipe?): save it to a file first")

// ErrAdminOrder is returned by ByExpiry for a manifest of admin rows.
var ErrAdminOrder = errors.New("manifest: --order expiry orders rows by their tokens' expiry, and admin rows (by username) have no token: leave --order out")

// ByExpiry reads all of m and returns its rows soonest-expiring token
// first, so that more rows are sent before their tokens expire. Rows keep
// their manifest numbers; rows whose token cannot be read come first, as
// they take no time. m is a manifest from ReadCSV or ReadJSONL reading src
// from its first byte; ByExpiry keeps 16 bytes a row and reads each row
// again from src when it is asked for, so memory stays small whatever the
// manifest's size.
func ByExpiry(m Manifest, src io.ReaderAt) (*Rows, error) {
	lm, ok := m.(interface{ byLine() *lineManifest })
	if !ok {
		return nil, fmt.Errorf("manifest: %T cannot be read in expiry order", m)
	}
	if _, err := src.ReadAt(make([]byte, 1), 0); err != nil && err != io.EOF {
		return nil, fmt.Errorf("%w (%v)", ErrNotSeekable, err)
	}
	again, err := lm.byLine().reader()
	if err != nil {
		return nil, err
	}
	r := &Rows{src: src, m: again}
	lines := lm.byLine().lines
	for {
		row, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if row.Admin {
			return nil, ErrAdminOrder
		}
		if row.N > math.MaxUint32 {
			return nil, fmt.Errorf("manifest: more than %d rows, too many to order by expiry", uint32(math.MaxUint32))
		}
		if d := lines.line - row.N; len(r.gaps) == 0 || r.gaps[len(r.gaps)-1].lines != d {
			r.gaps = append(r.gaps, gap{row.N, d})
		}
		r.places = append(r.places, place{off: lines.off, n: uint32(row.N), exp: expiry(row)})
	}
	slices.SortFunc(r.places, func(a, b place) int { return cmp.Or(cmp.Compare(a.exp, b.exp), cmp.Compare(a.n, b.n)) })
	return r, nil
}

// expiry is when row's token expires in Unix seconds, within 1 and the
// largest uint32; 0 when the row or its token cannot be read.
func expiry(row Row) uint32 {
	if row.Err != nil {
		return 0
	}
	c, rerr := ParseToken(row.Token)
	if rerr != nil {
		return 0
	}
	return uint32(min(max(c.Exp.Unix(), 1), math.MaxUint32))
}

// Next returns the next row.
func (r *Rows) Next() (Row, error) {
	if r.err != nil {
		return Row{}, r.err
	}
	if r.next >= len(r.places) {
		return Row{}, io.EOF
	}
	p := r.places[r.next]
	r.next++
	n := int(p.n)
	i := sort.Search(len(r.gaps), func(i int) bool { return r.gaps[i].n > n }) - 1
	line := n + r.gaps[max(i, 0)].lines
	r.m.seek(io.NewSectionReader(r.src, p.off, math.MaxInt64-p.off), p.off, line, n)
	row, ok, err := r.m.readRow()
	if err == io.EOF || err == nil && !ok {
		err = fmt.Errorf("manifest: line %d no longer holds row %d: the file changed during the run", line, n)
	}
	return row, err
}

// Again returns a reader of the same rows from the start.
func (r *Rows) Again() *Rows {
	a := &Rows{src: r.src, places: r.places, gaps: r.gaps, err: r.err}
	if a.err == nil {
		a.m, a.err = r.m.reader()
	}
	return a
}

// reader returns a manifest of the same file to read one row at a time
// with seek: it shares nothing with m.
func (m *lineManifest) reader() (*lineManifest, error) {
	p, err := m.parser.fresh()
	if err != nil {
		return nil, err
	}
	// A row is about a KiB, read from anywhere in the file: a small buffer
	// reads little that is not used.
	return &lineManifest{lines: &lineReader{r: bufio.NewReaderSize(nil, 2<<10)}, parser: p}, nil
}

// seek makes the next line read the one at off in r, numbered line,
// holding row n.
func (m *lineManifest) seek(r io.Reader, off int64, line, n int) {
	m.lines.r.Reset(r)
	m.lines.line, m.lines.end = line-1, off
	m.n = n - 1
}
