package s3_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/seed-710818af/overseer/fetcher"
)

// TestS3SignatureAndRefuse runs against one versitygw server: a corrected
// signature beside an unchanged binary is noticed with one more HEAD, and
// a refused version is not downloaded again.
func TestS3SignatureAndRefuse(t *testing.T) {
	gw := startVersityGW(t)
	gw.mkBucket(t, "releases")

	t.Run("CorrectedSignature", func(t *testing.T) {
		proxy := newCountingProxy(t, gw.Endpoint)
		bin := randomBytes(50 << 10)
		wrong, right := testMinisig(), testMinisig()
		gw.put(t, "releases", "app", bin)
		gw.put(t, "releases", "app.minisig", wrong)
		f := newS3(t, proxy.URL, "releases", "app")
		fetchSigned := func() (got, sig []byte) {
			t.Helper()
			r, err := f.Fetch()
			if err != nil {
				t.Fatal(err)
			}
			if r == nil {
				return nil, nil
			}
			defer r.(io.Closer).Close()
			if sig, err = r.(fetcher.Signed).Signature(); err != nil {
				t.Fatal(err)
			}
			if got, err = io.ReadAll(r); err != nil {
				t.Fatal(err)
			}
			return got, sig
		}
		if got, sig := fetchSigned(); !bytes.Equal(got, bin) || !bytes.Equal(sig, wrong) {
			t.Fatal("first fetch did not deliver the binary and its signature")
		}
		proxy.counts()
		for i := 0; i < 3; i++ {
			if got, _ := fetchSigned(); got != nil {
				t.Fatal("unchanged binary and signature offered again")
			}
			if m, b := proxy.counts(); m["HEAD"] != 2 || len(m) != 1 || b != 0 {
				t.Fatalf("poll %d: %v, %d body bytes; want two HEADs (binary, signature), no body", i, m, b)
			}
		}
		gw.put(t, "releases", "app.minisig", right)
		if got, sig := fetchSigned(); !bytes.Equal(got, bin) || !bytes.Equal(sig, right) {
			t.Fatal("a corrected signature beside the unchanged binary was not offered")
		}
		if got, _ := fetchSigned(); got != nil {
			t.Fatal("offered again after the corrected signature was read")
		}
	})

	t.Run("Refuse", func(t *testing.T) {
		proxy := newCountingProxy(t, gw.Endpoint)
		gw.put(t, "releases", "big", randomBytes(20<<10))
		f := newS3(t, proxy.URL, "releases", "big")
		r, err := f.Fetch()
		if err != nil || r == nil {
			t.Fatalf("Fetch = %v, %v", r, err)
		}
		io.ReadFull(r, make([]byte, 1000))
		r.(fetcher.Refusable).Refuse()
		r.(io.Closer).Close()
		proxy.counts()
		mustNotChange(t, f)
		if m, b := proxy.counts(); m["HEAD"] != 1 || len(m) != 1 || b != 0 {
			t.Errorf("poll after Refuse: %v, %d body bytes; want one HEAD", m, b)
		}
	})
}
