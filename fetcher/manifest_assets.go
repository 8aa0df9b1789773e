package fetcher

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sync"

	"github.com/seed-710818af/overseer/manifest"
)

// open starts the download of asset a; from, when the manifest's source
// resolves names itself, is where the manifest was read.
func (m *Manifest) open(a manifest.Asset, from namedAssets) (io.Reader, error) {
	if m.Open != nil {
		return m.Open(a.Ref())
	}
	if a.URL != "" {
		return m.openHTTP(a.URL, nil)
	}
	if from != nil {
		return from.openName(a.Name)
	}
	switch src := m.Source.(type) {
	case *HTTP:
		u, err := url.Parse(src.URL)
		if err != nil {
			return nil, err
		}
		ref, err := url.Parse(a.Name)
		if err != nil {
			return nil, err
		}
		return m.openHTTP(u.ResolveReference(ref).String(), src)
	case *File:
		p := filepath.Join(filepath.Dir(src.Path), filepath.FromSlash(a.Name))
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		return &fileBinary{file: f, sigPath: p + ".minisig", atEOF: func() {}}, nil
	case *S3:
		s := &S3{
			Access: src.Access, Secret: src.Secret, Region: src.Region,
			Bucket: src.Bucket, Key: path.Join(path.Dir(src.Key), a.Name),
			HeadTimeout: src.HeadTimeout, GetTimeout: src.GetTimeout,
			Endpoint: src.Endpoint, UsePathStyle: src.UsePathStyle, MaxSize: src.MaxSize,
			Client: src.Client,
		}
		return openOnce(s)
	}
	return nil, fmt.Errorf("asset %q is a name, and a %T source cannot resolve names: publish url assets or set Manifest.Open", a.Name, m.Source)
}

// openHTTP returns a reader over rawURL through a one-off HTTP fetcher, so
// the asset gets the same timeouts, size limit and ".minisig" as a polled
// binary. The request for the binary is sent at the first Read, so a
// binary the master refuses for its signature is never downloaded. The
// request headers of like (the manifest's source) are sent only to the
// manifest's own host.
func (m *Manifest) openHTTP(rawURL string, like *HTTP) (io.Reader, error) {
	h := &HTTP{URL: rawURL, Client: m.Client}
	if like != nil {
		if h.Client == nil {
			h.Client = like.client
		}
		h.MaxSize, h.Timeout = like.MaxSize, like.Timeout
		if like.u != nil {
			if u, err := url.Parse(rawURL); err == nil && u.Host == like.u.Host {
				h.Header = like.Header
			}
		}
	}
	if err := h.Init(); err != nil {
		return nil, err
	}
	return &lazyHTTP{h: h}, nil
}

// lazyHTTP is an HTTP asset whose download starts at the first Read; its
// signature can be fetched before.
type lazyHTTP struct {
	h *HTTP
	r io.Reader

	once sync.Once
	sig  []byte
	err  error
}

// Read implements io.Reader, starting the download on the first call.
func (l *lazyHTTP) Read(p []byte) (int, error) {
	if l.r == nil {
		r, err := l.h.Fetch()
		if err != nil {
			return 0, err
		}
		if r == nil {
			return 0, errors.New("the server offered nothing")
		}
		l.r = r
	}
	return l.r.Read(p)
}

// Close implements io.Closer.
func (l *lazyHTTP) Close() error {
	if c, ok := l.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Signature implements Signed: the URL plus ".minisig", fetched once.
func (l *lazyHTTP) Signature() ([]byte, error) {
	l.once.Do(func() { l.sig, _, _, l.err = l.h.signatureChanged(sigVersion{}) })
	return l.sig, l.err
}

// openOnce initialises a fresh fetcher and takes its first Fetch, which
// does not wait and finds no earlier version to compare with.
func openOnce(f Interface) (io.Reader, error) {
	if err := f.Init(); err != nil {
		return nil, err
	}
	r, err := f.Fetch()
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errors.New("the source offered nothing")
	}
	return r, nil
}

// assetReader streams an asset, holding it to the manifest's size. It
// implements Checksummed with the manifest's digest, and Signed and
// io.Closer when the underlying reader does.
type assetReader struct {
	r     io.Reader
	asset manifest.Asset
	n     int64
	done  func(error)
	once  sync.Once
}

// Read implements io.Reader; a body longer or shorter than the manifest's
// size fails with manifest.ErrMismatch.
func (a *assetReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	a.n += int64(n)
	if a.n > a.asset.Size {
		err = fmt.Errorf("%w: the asset is larger than the manifest's %d bytes", manifest.ErrMismatch, a.asset.Size)
		a.finish(err)
		return n, err
	}
	switch {
	case err == io.EOF && a.n != a.asset.Size:
		err = fmt.Errorf("%w: the asset has %d bytes, the manifest says %d", manifest.ErrMismatch, a.n, a.asset.Size)
		a.finish(err)
	case err == io.EOF:
		a.finish(nil)
	case err != nil:
		a.finish(err)
	}
	return n, err
}

// finish reports the end of the download once.
func (a *assetReader) finish(err error) { a.once.Do(func() { a.done(err) }) }

// Close implements io.Closer; closing before the end counts as a failed
// download, retried at the next poll.
func (a *assetReader) Close() error {
	a.finish(errors.New("download abandoned before its end"))
	if c, ok := a.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// SHA256 implements Checksummed with the manifest's digest.
func (a *assetReader) SHA256() (string, error) { return a.asset.SHA256, nil }

// Signature implements Signed with the asset's own signature, if its
// source publishes one.
func (a *assetReader) Signature() ([]byte, error) {
	if s, ok := a.r.(Signed); ok {
		return s.Signature()
	}
	return nil, nil
}
