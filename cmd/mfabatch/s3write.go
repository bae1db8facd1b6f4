package main

// Writing S3 objects: the report, in checkpoint parts while the run goes
// and as one object at its end, and the summary, as one object.
//
// A report at s3://B/K is written as:
//
//	K.parts/RUN/000001, 000002, ...   while the run goes: each part holds
//	                                  the rows written since the previous
//	                                  one, the first the header too
//	K                                 at the end: the whole report
//
// RUN is the run's start time (UTC, sortable). The first part is written
// before the first call, holding the rows --resume carried over; the
// parts and the object of earlier runs to K are then deleted, as a local
// report replaces the file it is written over. A part follows every
// minute at most, or sooner after partBytes of rows, so a kill loses at
// most the last minute of rows; each row is uploaded once in a part, and
// once in the final object. At the end the parts are deleted. --resume
// from K reads the newest run's parts when there are any, else K.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const (
	// checkpointEvery is the longest a finished row waits for its part.
	checkpointEvery = time.Minute
	// partBytes starts a part sooner when rows come fast.
	partBytes = 8 << 20
	// s3CallTimeout bounds each write. Writes are not cut by a signal:
	// the report of an interrupted run is still completed.
	s3CallTimeout = 5 * time.Minute
)

// checkpointInterval is checkpointEvery, or the shorter interval that
// MFABATCH_S3_CHECKPOINT_INTERVAL asks for (from 1s), to lose less.
func checkpointInterval() (time.Duration, error) {
	v := os.Getenv("MFABATCH_S3_CHECKPOINT_INTERVAL")
	if v == "" {
		return checkpointEvery, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second || d > checkpointEvery {
		return 0, usageError{fmt.Sprintf("MFABATCH_S3_CHECKPOINT_INTERVAL %q: want a duration from 1s to 1m", v), ""}
	}
	return d, nil
}

func partsPrefix(p s3Path) string { return p.key + ".parts/" }

func partKey(p s3Path, run string, n int) string {
	return fmt.Sprintf("%s%s/%06d", partsPrefix(p), run, n)
}

// s3Out is an object being written. Its bytes go to a local file first,
// mode 0600 and unlinked at once so that it vanishes with the process,
// from which the parts and the final object are uploaded.
type s3Out struct {
	store *s3Store
	path  s3Path
	spool *os.File
	size  int64 // bytes in spool

	// The report's checkpoint parts; a summary has none.
	parts     bool
	every     time.Duration
	run       string    // this run's folder of parts
	n         int       // parts uploaded
	sent      int64     // spool bytes in parts
	last      time.Time // when the last part was uploaded
	committed bool
}

// createS3 opens an object to write at p: the report, checkpointed, or
// the summary. The summary's place is tried at once with a probe object,
// so that a bucket the run cannot write stops it before the first call.
func (st *s3Store) createS3(p s3Path, checkpointed bool) (*s3Out, error) {
	every, err := checkpointInterval()
	if err != nil {
		return nil, err
	}
	if !checkpointed {
		probe := s3Path{p.bucket, p.key + ".mfabatch-probe"}
		if err := st.put(probe, bytes.NewReader(nil)); err != nil {
			return nil, err
		}
		if err := st.deleteKeys(probe.bucket, []string{probe.key}); err != nil {
			return nil, st.fail("DeleteObjects", probe, err)
		}
	}
	spool, err := os.CreateTemp("", "mfabatch-out-*")
	if err != nil {
		return nil, err
	}
	os.Remove(spool.Name())
	run := time.Now().UTC().Format("20060102T150405.000000000Z")
	return &s3Out{store: st, path: p, spool: spool, parts: checkpointed, every: every, run: run}, nil
}

func (o *s3Out) Write(b []byte) (int, error) {
	n, err := o.spool.Write(b)
	o.size += int64(n)
	if err != nil {
		return n, err
	}
	// A report's writes hold whole rows, so each part ends between rows.
	if o.parts && o.committed && (time.Since(o.last) >= o.every || o.size-o.sent >= partBytes) {
		return n, o.checkpoint()
	}
	return n, nil
}

// checkpoint uploads the rows written since the last part as a new part.
func (o *s3Out) checkpoint() error {
	if o.n > 0 && o.size == o.sent {
		return nil
	}
	part := s3Path{o.path.bucket, partKey(o.path, o.run, o.n+1)}
	if err := o.store.put(part, io.NewSectionReader(o.spool, o.sent, o.size-o.sent)); err != nil {
		return err
	}
	o.n++
	o.sent, o.last = o.size, time.Now()
	return nil
}

// staged: a report's first part, the header at least, is written by
// commit, before the first call.
func (o *s3Out) staged() bool { return o.parts }

// commit writes the first part, then deletes what earlier runs wrote to
// the same report: parts first, so that no moment leaves neither.
func (o *s3Out) commit() error {
	if !o.parts || o.committed {
		return nil
	}
	if err := o.checkpoint(); err != nil {
		return err
	}
	o.committed = true
	keys, err := o.store.list(context.Background(), o.path.bucket, partsPrefix(o.path))
	if err != nil {
		return o.store.fail("ListObjectsV2", o.path, err)
	}
	mine := partsPrefix(o.path) + o.run + "/"
	old := []string{o.path.key}
	for _, k := range keys {
		if len(k) < len(mine) || k[:len(mine)] != mine {
			old = append(old, k)
		}
	}
	if err := o.store.deleteKeys(o.path.bucket, old); err != nil {
		return o.store.fail("DeleteObjects", o.path, err)
	}
	return nil
}

// abandon deletes the parts of a report whose run ends before its first
// call: they would hide the earlier run's from --resume.
func (o *s3Out) abandon() {
	if o.n > 0 {
		var keys []string
		for i := 1; i <= o.n; i++ {
			keys = append(keys, partKey(o.path, o.run, i))
		}
		o.store.deleteKeys(o.path.bucket, keys)
	}
	o.spool.Close()
}

// close uploads the last rows as a part, so the parts hold the whole
// report even if what follows fails, then the whole object, then deletes
// the parts.
func (o *s3Out) close() error {
	defer o.spool.Close()
	if err := o.commit(); err != nil {
		return err
	}
	if o.parts {
		if err := o.checkpoint(); err != nil {
			return err
		}
	}
	if err := o.store.put(o.path, io.NewSectionReader(o.spool, 0, o.size)); err != nil {
		return err
	}
	if !o.parts {
		return nil
	}
	keys := make([]string, o.n)
	for i := range keys {
		keys[i] = partKey(o.path, o.run, i+1)
	}
	if err := o.store.deleteKeys(o.path.bucket, keys); err != nil {
		return o.store.fail("DeleteObjects", o.path, err)
	}
	return nil
}

// put uploads body to p, encrypted at rest: with the KMS key of
// --sse-kms-key-id, else with S3's own keys.
func (st *s3Store) put(p s3Path, body io.Reader) error {
	ctx, cancel := context.WithTimeout(context.Background(), s3CallTimeout)
	defer cancel()
	in := &s3.PutObjectInput{Bucket: aws.String(p.bucket), Key: aws.String(p.key), Body: body,
		ServerSideEncryption: types.ServerSideEncryptionAes256}
	if st.kmsKey != "" {
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(st.kmsKey)
	}
	if _, err := manager.NewUploader(st.client).Upload(ctx, in); err != nil {
		return st.fail("PutObject", p, err)
	}
	return nil
}

// deleteKeys deletes keys from bucket, a thousand at a time as S3 allows;
// a key that is not there is no error.
func (st *s3Store) deleteKeys(bucket string, keys []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), s3CallTimeout)
	defer cancel()
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1000)]
		keys = keys[len(batch):]
		ids := make([]types.ObjectIdentifier, len(batch))
		for i, k := range batch {
			ids[i] = types.ObjectIdentifier{Key: aws.String(k)}
		}
		out, err := st.client.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("%s: %s: %s", aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
	}
	return nil
}
