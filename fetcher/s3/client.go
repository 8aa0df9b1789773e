package s3

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/seed-710818af/overseer/fetcher"
)

// clientKey is what sets an SDK client apart: fetchers that agree on all of
// it share one client.
type clientKey struct {
	region, access, secret string
	endpoint               string
	pathStyle              bool
	http                   *http.Client
}

func keyOf(s *fetcher.S3) clientKey {
	return clientKey{region: s.Region, access: s.Access, secret: s.Secret, endpoint: s.Endpoint, pathStyle: s.UsePathStyle, http: s.Client}
}

// sharedClient is one SDK client, built on first use. A failed build is
// not kept: the next Init tries again.
type sharedClient struct {
	mu     sync.Mutex // held while building, so a configuration is loaded once
	client *awss3.Client
}

// clients holds the process's SDK clients, one per clientKey, for the life
// of the process. fetcher.Manifest makes a fetcher.S3 for every asset it
// downloads, and a process may poll several objects: building a client
// per fetcher would load the AWS configuration each time (parsing
// AWS_CA_BUNDLE, when set, costs about 220 KB and 2 ms per load) and open a
// connection pool each, so the manifest's warm connection would not serve
// the download that follows it. A shared client also shares one
// credentials cache, so credentials from the default chain (instance
// metadata, SSO, web identity) are refreshed once for all fetchers. The
// clients are safe for concurrent use.
var clients struct {
	mu sync.Mutex
	m  map[clientKey]*sharedClient
}

// clientFor returns the shared SDK client for s, loading the AWS
// configuration the first time a clientKey is seen. The environment and
// the shared config files are read then, not on later calls.
func clientFor(s *fetcher.S3) (*awss3.Client, error) {
	key := keyOf(s)
	clients.mu.Lock()
	if clients.m == nil {
		clients.m = map[clientKey]*sharedClient{}
	}
	sc := clients.m[key]
	if sc == nil {
		sc = &sharedClient{}
		clients.m[key] = sc
	}
	clients.mu.Unlock()

	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.client != nil {
		return sc.client, nil
	}
	c, err := newClient(key)
	if err != nil {
		return nil, err
	}
	sc.client = c
	return c, nil
}

// newClient loads the AWS configuration and builds a client for key.
func newClient(key clientKey) (*awss3.Client, error) {
	var opts []func(*config.LoadOptions) error
	if key.region != "" {
		opts = append(opts, config.WithRegion(key.region))
	}
	if key.access != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(key.access, key.secret, "")))
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = fetcher.DefaultS3Region
	}
	return awss3.NewFromConfig(awsCfg, func(o *awss3.Options) {
		if key.endpoint != "" {
			o.BaseEndpoint = aws.String(key.endpoint)
		}
		o.UsePathStyle = key.pathStyle
		if key.http != nil {
			// Set here, not in the loaded configuration: with
			// AWS_CA_BUNDLE set, loading refuses a client it cannot add
			// the bundle to. Credential providers keep the SDK's client.
			o.HTTPClient = key.http
		}
		// The stream is hashed by the master; do not make the SDK buffer or
		// complain about objects uploaded without checksums.
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.DisableLogOutputChecksumValidationSkipped = true
	}), nil
}
