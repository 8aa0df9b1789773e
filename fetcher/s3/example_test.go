package s3_test

import (
	"net/http"
	"time"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/fetcher"
	_ "github.com/seed-710818af/overseer/fetcher/s3" // links fetcher.S3's implementation
)

// A service that upgrades itself from an S3 bucket. Credentials come from
// the AWS SDK's default chain (environment, shared files, instance or pod
// identity) when Access and Secret are empty. Fetchers with the same
// settings share one SDK client in the process.
func Example() {
	overseer.Run(overseer.Config{
		Address: ":8080",
		Program: func(state overseer.State) {
			_ = http.Serve(state.Listener, http.NotFoundHandler())
		},
		Fetcher: &fetcher.S3{
			Bucket:   "releases",
			Key:      "myapp_linux_amd64.gz", // decompressed while it streams
			Interval: 5 * time.Minute,
		},
	})
}

// An S3-compatible store (MinIO, Ceph, versitygw, R2) reached through the
// program's own HTTP client, for a proxy or custom TLS roots.
func Example_compatibleStore() {
	overseer.Run(overseer.Config{
		Address: ":8080",
		Program: func(state overseer.State) {
			_ = http.Serve(state.Listener, http.NotFoundHandler())
		},
		Fetcher: &fetcher.S3{
			Endpoint:     "https://minio.internal:9000",
			UsePathStyle: true,
			Region:       "us-east-1",
			Bucket:       "releases",
			Key:          "myapp_linux_amd64",
			Client:       &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}},
		},
	})
}
