package fetcher

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/seed-710818af/overseer/fetcher/internal/remote"
)

// namedAssets opens the assets a manifest names relative to itself, in
// the place the manifest was read from. Manifest uses it for sources that
// resolve names themselves (a GitHub release).
type namedAssets interface {
	openName(name string) (io.Reader, error)
}

// namedAssets returns the assets of the release the manifest r streams
// was read from.
func (r *githubReader) namedAssets() namedAssets {
	return &ghReleaseAssets{g: r.g, rel: r.rel}
}

// ghReleaseAssets is one GitHub release, as it was when a manifest was
// read from it. Names resolve in that release only: a release published
// between reading the manifest and downloading the binary is never
// consulted, so a manifest and a binary of two versions are not mixed.
type ghReleaseAssets struct {
	g   *Github
	rel ghRelease
}

// openName returns a reader over the asset called name; its download is
// sent at the first Read, through the asset's API address like the
// binaries Github polls (token, Accept: application/octet-stream, MaxSize,
// Timeout as a stall guard, ".gz" decompressed). Its signature is the
// asset name + ".minisig" of the same release. An asset the release does
// not list is looked up again in a fresh copy of that same release
// (uploads may still have been under way when it was read), then is an
// error naming the release and the asset.
func (ra *ghReleaseAssets) openName(name string) (io.Reader, error) {
	g := ra.g
	a, ok := ra.find(name)
	if !ok {
		if err := ra.refresh(); err != nil {
			return nil, err
		}
		a, ok = ra.find(name)
	}
	if !ok {
		return nil, ra.missing(name)
	}
	gz := strings.HasSuffix(a.Name, ".gz")
	if !gz && a.Size > g.MaxSize {
		return nil, fmt.Errorf("%s: asset %s of release %q, %d bytes: %w of %d bytes", g.op, a.Name, ra.rel.TagName, a.Size, remote.ErrTooLarge, g.MaxSize)
	}
	r := &ghNamedReader{g: g}
	if sig, ok := ra.find(a.Name + ".minisig"); ok {
		r.sigAsset = &sig
	}
	s := remote.Lazy(fmt.Sprintf("%s: download %s %s", g.op, ra.rel.TagName, a.Name),
		func(ctx context.Context) (io.ReadCloser, error) { return g.open(ctx, a, gz) })
	s.Gunzip = gz
	s.MaxSize = g.MaxSize
	s.Stall = g.Timeout
	r.Stream = s
	return r, nil
}

// find returns the asset called name.
func (ra *ghReleaseAssets) find(name string) (ghAsset, bool) {
	for _, a := range ra.rel.Assets {
		if a.Name == name {
			return a, true
		}
	}
	return ghAsset{}, false
}

// missing describes an asset the release does not have.
func (ra *ghReleaseAssets) missing(name string) error {
	names := make([]string, 0, len(ra.rel.Assets))
	for _, a := range ra.rel.Assets {
		names = append(names, a.Name)
	}
	hint := ""
	if strings.Contains(name, "/") {
		hint = "; GitHub asset names have no '/': publish flat names (overseer-release -asset GOOS/GOARCH=FILE)"
	}
	return fmt.Errorf("%s: release %q has no asset %q (assets: %s)%s", ra.g.op, ra.rel.TagName, name, strings.Join(names, ", "), hint)
}

// refresh reads the same release again, by its id, for the assets
// uploaded since it was first read.
func (ra *ghReleaseAssets) refresh() error {
	if ra.rel.ID == 0 {
		return nil
	}
	g := ra.g
	op := fmt.Sprintf("get release %q", ra.rel.TagName)
	u := strings.TrimSuffix(g.releaseURL, "latest") + strconv.FormatInt(ra.rel.ID, 10)
	req, err := g.newRequest(context.Background(), u, "application/vnd.github+json")
	if err != nil {
		return err
	}
	call, err := remote.Do(g.client, req, g.Timeout)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", g.op, op, err)
	}
	defer call.Close()
	if call.Resp.StatusCode != http.StatusOK {
		return g.statusError(op, call.Resp)
	}
	body, err := remote.ReadSmall(call.Resp.Body, maxReleaseSize)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", g.op, op, remote.Cause(call.Ctx, err))
	}
	rel, err := parseRelease(body)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", g.op, op, err)
	}
	if rel.ID != ra.rel.ID {
		return fmt.Errorf("%s: %s: GitHub answered with release %d, not %d", g.op, op, rel.ID, ra.rel.ID)
	}
	ra.rel = rel
	return nil
}

// ghNamedReader streams an asset of a manifest's release. It implements
// io.Closer and Signed.
type ghNamedReader struct {
	*remote.Stream
	g        *Github
	sigAsset *ghAsset

	sigOnce sync.Once
	sig     []byte
	sigErr  error
}

// Signature implements Signed: the asset named like this one plus
// ".minisig" in the same release, downloaded once; nil, nil if there is
// none.
func (r *ghNamedReader) Signature() ([]byte, error) {
	r.sigOnce.Do(func() { r.sig, r.sigErr = r.g.signature(r.sigAsset) })
	return r.sig, r.sigErr
}
