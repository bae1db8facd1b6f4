package batch

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Shard is one of Count parts of a manifest: the rows whose
// (row - 1) mod Count is Index. The zero value is the whole manifest.
type Shard struct {
	Index, Count int
}

// Has reports whether row n (1-based) is in the shard.
func (s Shard) Has(n int) bool {
	return s.Count <= 1 || (n-1)%s.Count == s.Index
}

func (s Shard) String() string {
	if s.Count <= 1 {
		return "all"
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// ParseShard reads "I/N", with 0 <= I < N.
func ParseShard(s string) (Shard, error) {
	i, n, ok := strings.Cut(s, "/")
	if !ok {
		return Shard{}, errors.New("want I/N, such as 0/4")
	}
	return NewShard(strings.TrimSpace(i), strings.TrimSpace(n))
}

// NewShard makes a Shard from an index and a count given as text, as
// schedulers' environment variables give them.
func NewShard(index, count string) (Shard, error) {
	i, err1 := strconv.Atoi(strings.TrimSpace(index))
	n, err2 := strconv.Atoi(strings.TrimSpace(count))
	switch {
	case err1 != nil || err2 != nil:
		return Shard{}, fmt.Errorf("shard %q of %q: want whole numbers", index, count)
	case n < 1:
		return Shard{}, fmt.Errorf("shard count %d: want 1 or more", n)
	case i < 0 || i >= n:
		return Shard{}, fmt.Errorf("shard index %d: want 0 to %d", i, n-1)
	}
	return Shard{Index: i, Count: n}, nil
}
