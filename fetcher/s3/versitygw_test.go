package s3_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// Credentials of the root account of the test server.
const (
	testAccess = "overseer-test-access"
	testSecret = "overseer-test-secret-0123456789"
	testRegion = "us-east-1"
)

// findVersityGW locates the versitygw binary: $VERSITYGW, then the
// repository's .cache/bin (where scripts/install-versitygw.sh puts it), then
// PATH.
func findVersityGW() string {
	if p := os.Getenv("VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	if root := repoRoot(); root != "" {
		p := filepath.Join(root, ".cache", "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	p, _ := exec.LookPath("versitygw")
	return p
}

// repoRoot returns the repository's root: the nearest directory above the
// working directory that holds a .git entry or the scripts folder, or "".
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for i := 0; i < 10; i++ {
		if _, err := os.Stat(filepath.Join(dir, "scripts", "install-versitygw.sh")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return ""
}

// dataDir returns a fresh directory for the server's posix backend, which
// needs user extended attributes: tmpfs lacks them, so when the system's
// temporary directory is tmpfs it is placed under .cache/tmp instead.
func dataDir(t *testing.T) string {
	t.Helper()
	if !isTmpfs(os.TempDir()) {
		return t.TempDir()
	}
	root := repoRoot()
	if root == "" {
		t.Fatal("the temporary directory is tmpfs and the repository root is unknown")
	}
	base := filepath.Join(root, ".cache", "tmp")
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp(base, "versitygw-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// versityGW is a running versitygw server.
type versityGW struct {
	Endpoint string
	cmd      *exec.Cmd
	out      *lockedBuffer
}

// startVersityGW starts a versitygw server on 127.0.0.1 for the test and
// stops it when the test ends. Without the binary the test is skipped, or
// fails when OVERSEER_REQUIRE_ALL=1.
func startVersityGW(t *testing.T) *versityGW {
	t.Helper()
	bin := findVersityGW()
	if bin == "" {
		msg := "versitygw not found: run scripts/install-versitygw.sh (builds it into .cache/bin), or set VERSITYGW to its path"
		if os.Getenv("OVERSEER_REQUIRE_ALL") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := dataDir(t)
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		gw := &versityGW{Endpoint: "http://" + addr, out: &lockedBuffer{}}
		gw.cmd = exec.Command(bin, "--access", testAccess, "--secret", testSecret, "--port", addr, "posix", dir)
		gw.cmd.Stdout, gw.cmd.Stderr = gw.out, gw.out
		if err := gw.cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() { gw.cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			gw.cmd.Process.Kill()
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Errorf("versitygw (pid %d) did not exit after SIGKILL", gw.cmd.Process.Pid)
			}
		})
		if waitListening(addr, exited, 20*time.Second) {
			return gw
		}
		select {
		case <-exited: // probably lost the port to someone else: retry
			t.Logf("versitygw exited at start-up: %s", gw.out.String())
		default:
			t.Fatalf("versitygw did not listen on %s within 20s: %s", addr, gw.out.String())
		}
	}
	t.Fatal("versitygw failed to start three times")
	return nil
}

// waitListening waits until addr accepts connections, the process exits or
// the timeout passes.
func waitListening(addr string, exited <-chan struct{}, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// freePort returns a TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// client returns an SDK client for the server's root account, for setting
// up buckets and objects.
func (gw *versityGW) client() *awss3.Client {
	return awss3.New(awss3.Options{
		Region:       testRegion,
		BaseEndpoint: aws.String(gw.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(testAccess, testSecret, ""),
	})
}

// mkBucket creates a bucket.
func (gw *versityGW) mkBucket(t *testing.T, bucket string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := gw.client().CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket %s: %v (server output: %s)", bucket, err, gw.out.String())
	}
}

// put uploads an object.
func (gw *versityGW) put(t *testing.T, bucket, key string, body []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := gw.client().PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// lockedBuffer collects the server's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 1<<20 {
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
