package main

// Reading S3 objects: the manifest, streamed from GetObject, and an
// earlier report for --resume, from its final object or its checkpoint
// parts (see s3write.go for the layout).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// maxReopens is how many times in a row a read cut off by the network is
// taken up again where it stopped.
const maxReopens = 3

// s3Reader streams an object. A run reads its manifest for hours, at the
// pace of the calls: a connection that drops is opened again at the byte
// where it stopped, and only if the object is still the one first read.
type s3Reader struct {
	// ctx bounds every GetObject of the reading, as an HTTP body is bound
	// to its request's: the reader is the body's stand-in.
	ctx   context.Context
	store *s3Store
	path  s3Path
	etag  string // the object first read; "" until then
	size  int64
	off   int64
	body  io.ReadCloser
	fails int // reads cut off in a row
}

// open starts reading the object from r.off.
func (r *s3Reader) open() error {
	in := &s3.GetObjectInput{Bucket: aws.String(r.path.bucket), Key: aws.String(r.path.key)}
	if r.etag != "" {
		in.IfMatch = aws.String(r.etag)
	}
	if r.off > 0 {
		in.Range = aws.String("bytes=" + strconv.FormatInt(r.off, 10) + "-")
	}
	out, err := r.store.client.GetObject(r.ctx, in)
	if err != nil {
		var ae interface{ ErrorCode() string }
		if r.etag != "" && errors.As(err, &ae) && ae.ErrorCode() == "PreconditionFailed" {
			return fmt.Errorf("%s changed while it was read", r.path)
		}
		return r.store.fail("GetObject", r.path, err)
	}
	if r.etag == "" {
		r.etag, r.size = aws.ToString(out.ETag), aws.ToInt64(out.ContentLength)
	}
	r.body = out.Body
	return nil
}

func (r *s3Reader) Read(p []byte) (int, error) {
	for {
		if r.body == nil {
			if r.etag != "" && r.off >= r.size {
				return 0, io.EOF
			}
			if err := r.open(); err != nil {
				return 0, err
			}
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == io.EOF {
			r.Close()
		}
		if err == nil || err == io.EOF || r.ctx.Err() != nil || r.fails >= maxReopens {
			return n, err
		}
		r.body.Close()
		r.body = nil
		if n > 0 {
			r.fails = 0
			return n, nil
		}
		r.fails++
	}
}

func (r *s3Reader) Close() error {
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	return err
}

// openS3Manifest opens the manifest at path, streamed from GetObject. A
// manifest to read twice for --order expiry or --resume is copied aside
// as a pipe is (see source); else the plan reads the object again.
func openS3Manifest(ctx context.Context, st *storage, path string, twice bool) (*source, error) {
	store, p, err := st.open(ctx, path, "the manifest")
	if err != nil {
		return nil, err
	}
	r, err := store.openObject(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("cannot read the manifest: %w", err)
	}
	src := &source{r: r, name: path, close: func() { r.Close() }}
	if !twice {
		src.reopen = func() io.Reader { return r.again() }
		return src, nil
	}
	spool, size, err := spoolPipe(ctx, r)
	r.Close()
	if err != nil {
		return nil, err
	}
	src.r, src.file, src.size = spool, spool, size
	src.close = func() { spool.Close() }
	return src, nil
}

// openObject starts reading the object at p, so that a missing object or
// a refused read is known at once.
func (st *s3Store) openObject(ctx context.Context, p s3Path) (*s3Reader, error) {
	r := &s3Reader{ctx: ctx, store: st, path: p}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// again reads the same object again from its start; reading fails if the
// object has changed since.
func (r *s3Reader) again() *s3Reader {
	return &s3Reader{ctx: r.ctx, store: r.store, path: r.path, etag: r.etag, size: r.size}
}

// openReport reads the report at p as --resume does: the newest
// checkpoint parts when there are any, since a run that stopped before
// its end leaves them (and one that ended leaves none), else the object.
func (st *s3Store) openReport(ctx context.Context, p s3Path) (io.ReadCloser, error) {
	parts, err := st.newestParts(ctx, p)
	if err != nil {
		return nil, err
	}
	if len(parts) == 0 {
		r, err := st.openObject(ctx, p)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
	readers := make([]io.Reader, len(parts))
	for i, key := range parts {
		readers[i] = &s3Reader{ctx: ctx, store: st, path: s3Path{p.bucket, key}}
	}
	return io.NopCloser(io.MultiReader(readers...)), nil
}

// newestParts lists the checkpoint parts of p's newest run, in order.
// A part missing between others is an error: the rows in it are lost, and
// a resume without them would send them again.
func (st *s3Store) newestParts(ctx context.Context, p s3Path) ([]string, error) {
	keys, err := st.list(ctx, p.bucket, partsPrefix(p))
	if err != nil {
		return nil, st.fail("ListObjectsV2", p, err)
	}
	newest := ""
	for _, k := range keys {
		if run, _, ok := strings.Cut(strings.TrimPrefix(k, partsPrefix(p)), "/"); ok && run > newest {
			newest = run
		}
	}
	if newest == "" {
		return nil, nil
	}
	var parts []string
	for _, k := range keys {
		if strings.HasPrefix(k, partsPrefix(p)+newest+"/") {
			parts = append(parts, k)
		}
	}
	slices.Sort(parts)
	for i, k := range parts {
		if want := partKey(p, newest, i+1); k != want {
			return nil, fmt.Errorf("%s: checkpoint part %s is missing", p, want)
		}
	}
	return parts, nil
}

// list returns the keys under prefix.
func (st *s3Store) list(ctx context.Context, bucket, prefix string) ([]string, error) {
	var keys []string
	pages := s3.NewListObjectsV2Paginator(st.client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}
