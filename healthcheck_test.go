package overseer

import (
	"strings"
	"testing"
)

// TestHealthCheckPathValidation: a Path that cannot be sent as a request
// target is refused when Run starts, with a message that says why.
func TestHealthCheckPathValidation(t *testing.T) {
	for _, tc := range []struct {
		path, wantErr string
	}{
		{"", ""},
		{"/healthz", ""},
		{"/status?deep=1&x=%20", ""},
		{"healthz", "must start with /"},
		{"/health check", "space or control character"},
		{"/h\r\nX-Injected: 1", "space or control character"},
		{"/h\tx", "space or control character"},
		{"/%zz", "HealthCheck.Path"},
	} {
		err := validHealthPath(tc.path)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.path, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: %v, want an error with %q", tc.path, err, tc.wantErr)
		}
	}
}
