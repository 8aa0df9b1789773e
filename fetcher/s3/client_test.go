package s3

import (
	"net/http"
	"testing"

	"github.com/seed-710818af/overseer/fetcher"
)

// TestClientsShared: fetchers with the same connection settings share one
// SDK client; any difference in region, credentials, endpoint or
// addressing gets its own. Bucket and key do not matter.
func TestClientsShared(t *testing.T) {
	base := fetcher.S3{Access: "a", Secret: "s", Region: "us-east-1", Bucket: "b", Key: "k",
		Endpoint: "http://127.0.0.1:9", UsePathStyle: true}
	first, err := clientFor(&base)
	if err != nil {
		t.Fatal(err)
	}
	same := base
	same.Bucket, same.Key = "other", "other/key"
	for _, tc := range []struct {
		name   string
		edit   func(*fetcher.S3)
		shared bool
	}{
		{"other bucket and key", func(s *fetcher.S3) { s.Bucket, s.Key = "other", "dir/key" }, true},
		{"other region", func(s *fetcher.S3) { s.Region = "eu-west-1" }, false},
		{"other access key", func(s *fetcher.S3) { s.Access = "a2" }, false},
		{"other secret", func(s *fetcher.S3) { s.Secret = "s2" }, false},
		{"default credentials", func(s *fetcher.S3) { s.Access, s.Secret = "", "" }, false},
		{"other endpoint", func(s *fetcher.S3) { s.Endpoint = "http://127.0.0.1:10" }, false},
		{"virtual-hosted style", func(s *fetcher.S3) { s.UsePathStyle = false }, false},
		{"the program's HTTP client", func(s *fetcher.S3) { s.Client = &http.Client{} }, false},
	} {
		s := base
		tc.edit(&s)
		c, err := clientFor(&s)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if (c == first) != tc.shared {
			t.Errorf("%s: shared %v, want %v", tc.name, c == first, tc.shared)
		}
		again, err := clientFor(&s)
		if err != nil || again != c {
			t.Errorf("%s: a second fetcher got another client (%v)", tc.name, err)
		}
	}
}

// BenchmarkInit measures fetcher.S3.Init once the settings' client exists,
// as for every asset fetcher.Manifest downloads.
func BenchmarkInit(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s := &fetcher.S3{Access: "a", Secret: "s", Region: "us-east-1", Bucket: "b", Key: "k",
			Endpoint: "http://127.0.0.1:9", UsePathStyle: true}
		if err := s.Init(); err != nil {
			b.Fatal(err)
		}
	}
}
