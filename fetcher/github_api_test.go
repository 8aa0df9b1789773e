package fetcher

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseRelease(t *testing.T) {
	rel, err := parseRelease([]byte(`{"tag_name":"v1","assets":[
		{"id":1,"name":"ok","url":"https://api.github.com/repos/o/r/releases/assets/1","state":"uploaded"},
		{"id":2,"name":"browser-only","browser_download_url":"https://github.com/o/r/releases/download/v1/b"},
		{"id":3,"name":"","url":"https://api.github.com/x"},
		{"id":4,"name":"uploading","url":"https://api.github.com/x","state":"open"},
		{"id":5,"name":"relative","url":"/x"},
		{"id":6,"name":"scheme","url":"file:///etc/passwd"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if rel.TagName != "v1" || len(rel.Assets) != 2 || rel.Assets[0].Name != "ok" || rel.Assets[1].downloadURL() != "https://github.com/o/r/releases/download/v1/b" {
		t.Fatalf("parsed %+v", rel)
	}
	for _, bad := range []string{"", "[]", `{"assets":{}}`, `{"tag_name":1}`, "<html>"} {
		if _, err := parseRelease([]byte(bad)); err == nil {
			t.Errorf("parseRelease(%q) succeeded", bad)
		}
	}
}

func TestChoose(t *testing.T) {
	rel := ghRelease{TagName: "v2", Assets: []ghAsset{
		{Name: "app_linux_amd64.gz.minisig"},
		{Name: "app_linux_amd64.sbom.json"},
		{Name: "app_1.0_checksums.txt"},
		{Name: "app_linux_amd64.gz"},
		{Name: "app_linux_amd64.gz.minisig"},
		{Name: "checksums.txt"},
	}}
	c, err := choose(rel, func(n string) bool { return strings.Contains(n, "linux_amd64") })
	if err != nil {
		t.Fatal(err)
	}
	if c.binary.Name != "app_linux_amd64.gz" || c.signature == nil || c.signature.Name != "app_linux_amd64.gz.minisig" ||
		c.checksums == nil || c.checksums.Name != "checksums.txt" || c.tag != "v2" {
		t.Fatalf("chose %+v", c)
	}
	if _, err := choose(rel, func(string) bool { return false }); err == nil {
		t.Fatal("choose with no match succeeded")
	}
}

func TestRateLimited(t *testing.T) {
	now := time.Unix(1700000000, 0)
	h := func(kv ...string) http.Header {
		hd := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			hd.Set(kv[i], kv[i+1])
		}
		return hd
	}
	cases := []struct {
		status  int
		header  http.Header
		limited bool
		wait    time.Duration
	}{
		{403, h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1700000600"), true, 601 * time.Second},
		{429, h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1700000600"), true, 601 * time.Second},
		{403, h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "1600000000"), true, time.Second},
		{403, h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "99999999999"), true, 61 * time.Second},
		{403, h("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "soon"), true, 61 * time.Second},
		{403, h("Retry-After", "30"), true, 31 * time.Second},
		{403, h("Retry-After", "999999999999999"), true, time.Hour},
		{429, h("Retry-After", now.Add(time.Minute).UTC().Format(http.TimeFormat)), true, 61 * time.Second},
		{429, h(), true, 61 * time.Second},
		{403, h("X-RateLimit-Remaining", "12"), false, 0},
		{403, h(), false, 0},
		{404, h("X-RateLimit-Remaining", "0"), false, 0},
		{200, h("Retry-After", "30"), false, 0},
	}
	for i, c := range cases {
		until, limited := rateLimited(c.status, c.header, now)
		if limited != c.limited || (limited && until.Sub(now) != c.wait) {
			t.Errorf("case %d: %v, %v; want %v, %v", i, until.Sub(now), limited, c.wait, c.limited)
		}
	}
}

func FuzzParseRelease(f *testing.F) {
	f.Add([]byte(`{"tag_name":"v1","assets":[{"id":1,"name":"app_linux_amd64.gz","url":"https://api.github.com/repos/o/r/releases/assets/1","browser_download_url":"https://github.com/o/r/releases/download/v1/app_linux_amd64.gz","size":10,"updated_at":"2024-01-01T00:00:00Z","state":"uploaded"}]}`))
	f.Add([]byte(`{"assets":[{"name":"x","url":"http://[::1]:80/a"},{"name":"y","state":"open"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rel, err := parseRelease(b)
		if err != nil {
			return
		}
		for _, a := range rel.Assets {
			if a.Name == "" || !absoluteHTTP(a.downloadURL()) {
				t.Fatalf("kept asset %+v", a)
			}
		}
		choose(rel, defaultAsset)
		choose(rel, func(string) bool { return true })
	})
}

func FuzzRateLimited(f *testing.F) {
	f.Add(403, "0", "1700000600", "")
	f.Add(429, "", "", "120")
	f.Add(429, "", "", "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(403, "0", "-5", "-1")
	f.Fuzz(func(t *testing.T, status int, remaining, reset, retryAfter string) {
		now := time.Unix(1700000000, 0)
		hd := http.Header{}
		hd.Set("X-RateLimit-Remaining", remaining)
		hd.Set("X-RateLimit-Reset", reset)
		hd.Set("Retry-After", retryAfter)
		until, limited := rateLimited(status, hd, now)
		if !limited {
			return
		}
		if status != 403 && status != 429 {
			t.Fatalf("status %d reported as rate limited", status)
		}
		if d := until.Sub(now); d < time.Second || d > time.Hour {
			t.Fatalf("wait %s out of bounds", d)
		}
	})
}
