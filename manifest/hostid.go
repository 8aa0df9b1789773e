package manifest

import (
	"errors"
	"os"
	"strings"
)

// machineIDFiles hold a stable, unique identity of the machine on systemd
// and D-Bus systems.
var machineIDFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

// HostID returns this host's default identity for rollouts: the content of
// /etc/machine-id (or /var/lib/dbus/machine-id), else the host name. Note
// that cloned machine images share a machine-id until it is regenerated;
// set an identity explicitly where that happens.
func HostID() (string, error) {
	for _, path := range machineIDFiles {
		if b, err := os.ReadFile(path); err == nil {
			if id := strings.TrimSpace(string(b)); id != "" {
				return id, nil
			}
		}
	}
	name, err := os.Hostname()
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", errors.New("no machine-id and an empty host name")
	}
	return name, nil
}
