package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/seed-710818af/overseer/fetcher"
	_ "github.com/seed-710818af/overseer/fetcher/s3" // fetcher.S3's implementation
)

// Credentials and names of the simulated bucket.
const (
	gwAccess = "fleetsim"
	gwSecret = "fleetsim-secret-key"
	gwRegion = "us-east-1"
	gwBucket = "fleet"
)

// gwStore is a versitygw S3 server (posix backend in a temporary
// directory) behind a counting reverse proxy on 127.0.0.1. Hosts poll it
// with fetcher.S3 (HeadObject, then GetObject when the ETag changed).
type gwStore struct {
	cmd    *exec.Cmd
	dir    string
	proxy  *proxyProcess
	client *awss3.Client // the publisher's
	hosts  *http.Client  // the simulated hosts' (fetcher.S3.Client)
}

// newGWStore starts versitygw from bin and the proxy in front of it. The
// hosts send their requests through hosts: one pool for the whole
// simulated fleet, as for the HTTP store, where a real fleet has one
// connection per host.
func newGWStore(bin string, hosts *http.Client) (*gwStore, error) {
	dir, err := os.MkdirTemp("", "fleet-versitygw-")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	gwAddr := ln.Addr().String()
	ln.Close()
	s := &gwStore{dir: dir, hosts: hosts}
	s.cmd = exec.Command(bin, "--access", gwAccess, "--secret", gwSecret, "--port", gwAddr, "posix", dir)
	logf, err := os.Create(filepath.Join(dir, "..", filepath.Base(dir)+".log"))
	if err == nil {
		s.cmd.Stdout, s.cmd.Stderr = logf, logf
	}
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start versitygw: %w", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", gwAddr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			s.close()
			return nil, fmt.Errorf("versitygw did not listen on %s in 30s", gwAddr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if s.proxy, err = startProxy("http://" + gwAddr); err != nil {
		s.close()
		return nil, err
	}
	s.client = awss3.New(awss3.Options{
		Region:       gwRegion,
		BaseEndpoint: aws.String("http://" + gwAddr),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: gwAccess, SecretAccessKey: gwSecret}, nil
		}),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(gwBucket)}); err != nil {
		s.close()
		return nil, fmt.Errorf("create bucket: %w", err)
	}
	return s, nil
}

func (s *gwStore) name() string {
	return "versitygw (posix backend) behind a counting proxy on 127.0.0.1 (fetcher.S3: HeadObject, GetObject on a new ETag)"
}
func (s *gwStore) snap() snapshot {
	snap, err := s.proxy.snap()
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleet: read the proxy's counters:", err)
	}
	return snap
}

func (s *gwStore) source(interval time.Duration) fetcher.Interface {
	return &fetcher.S3{
		Access: gwAccess, Secret: gwSecret, Region: gwRegion,
		Bucket: gwBucket, Key: "manifest.json", Endpoint: s.proxy.url, UsePathStyle: true,
		Interval: interval, Client: s.hosts,
	}
}

func (s *gwStore) put(key string, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := s.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(gwBucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

func (s *gwStore) close() {
	if s.proxy != nil {
		s.proxy.stop()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
	os.RemoveAll(s.dir)
	os.Remove(s.dir + ".log")
}
