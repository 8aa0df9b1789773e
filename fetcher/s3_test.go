package fetcher

import (
	"strings"
	"testing"
)

// TestS3NotLinked: package fetcher does not link the AWS SDK; without the
// fetcher/s3 import, Init says what to import. (The S3 implementation is
// tested with a real S3-compatible server in package fetcher/s3.)
func TestS3NotLinked(t *testing.T) {
	f := &S3{Bucket: "b", Key: "k"}
	err := f.Init()
	if err == nil || !strings.Contains(err.Error(), `import _ "github.com/seed-710818af/overseer/fetcher/s3"`) {
		t.Fatalf("Init = %v", err)
	}
	if _, err := f.Fetch(); err == nil {
		t.Fatal("Fetch after a failed Init succeeded")
	}
}

func TestS3InitValidates(t *testing.T) {
	for _, f := range []*S3{{}, {Bucket: "b"}, {Key: "k"}, {Bucket: "b", Key: "k", Access: "only"}, {Bucket: "b", Key: "k", Secret: "only"}} {
		if err := f.Init(); err == nil || strings.Contains(err.Error(), "not linked") {
			t.Errorf("Init(%+v) = %v, want a validation error", f, err)
		}
	}
	f := &S3{Bucket: "b", Key: "k"}
	f.Init()
	if f.Interval != DefaultInterval || f.HeadTimeout != DefaultHeadTimeout || f.GetTimeout != DefaultGetTimeout || f.MaxSize != DefaultMaxSize {
		t.Errorf("defaults not applied: %+v", f)
	}
}
