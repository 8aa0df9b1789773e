// Package sockets is overseer's socket code: it parses the addresses of
// Config.Address and Config.Addresses once, opens them (one opener for the
// master, which keeps blocking-mode copies and takes sockets from systemd
// socket activation, and for the in-process fallback, which serves on the
// listeners themselves), and adopts them in a child.
//
// # Addresses
//
// An entry of Config.Addresses is either a plain "host:port" (":3000", "127.0.0.1:0",
// "[::1]:8080"), which means TCP exactly as in jpillora/overseer, or a URL
// naming the kind of socket:
//
//	tcp://host:port    TCP on every family host resolves to (like a plain entry)
//	tcp4://host:port   TCP, IPv4 only
//	tcp6://host:port   TCP, IPv6 only
//	udp://host:port    UDP (udp4://, udp6:// likewise)
//	unix:///run/x.sock a Unix stream socket at an absolute path
//	unix:/run/x.sock   the same
//	unix:x.sock        a path relative to the working directory
//	unix:@name         a Linux abstract socket (no file)
//
// Any entry may end in parameters, "?key=value", several joined by "&":
//
//	name=NAME   with systemd socket activation, the passed socket named
//	            NAME (FileDescriptorName= in the .socket unit, which cannot
//	            contain a colon) serves this entry; see
//	            activation_unix.go
//	mode=0660   Unix sockets only: the socket file's permission bits, in
//	            octal. Without it they follow the umask. The file has them
//	            from the moment it exists, so a narrower mode never leaves
//	            a window open. A socket passed by systemd keeps the mode its
//	            .socket unit gave it (SocketMode=).
//
// Stream sockets (TCP, Unix) become State.Listeners, datagram sockets (UDP)
// State.PacketConns, each in Addresses order. The master creates a Unix
// socket's file, replacing a stale one that nobody listens on, and removes
// it only when the service stops.
//
// # Files
//
//	addr.go             parsing: Addr, List, Parse
//	listen.go           the one opener of an address; Listen, the in-process fallback's
//	listen_unix.go      Unix socket files: mode, stale files (listen_other.go elsewhere)
//	set_unix.go         the master's blocking-mode copies: Open, Set
//	activation_unix.go  systemd socket activation (LISTEN_FDS), in the master
//	adopt_unix.go       the child's side: Adopt
package sockets
