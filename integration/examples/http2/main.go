// Command http2 serves HTTP/2 through graceful.Serve, over TLS (h2, by
// ALPN) or in clear text (h2c, with prior knowledge), and restarts without
// failing a stream: on the drain each HTTP/2 connection gets a GOAWAY, its
// streams in flight finish, and the client opens new ones to the new
// process.
//
//	go run ./examples/http2 -addr 127.0.0.1:8443            # h2 with a self-signed certificate
//	go run ./examples/http2 -addr 127.0.0.1:8080 -h2c       # h2c
//	curl -k --http2 https://127.0.0.1:8443/
//	kill -USR2 <master pid>
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/seed-710818af/overseer"
	"github.com/seed-710818af/overseer/graceful"
)

var (
	h2c      = flag.Bool("h2c", false, "serve HTTP/2 in clear text (prior knowledge) instead of TLS")
	certFile = flag.String("cert", "", "TLS certificate (PEM); a self-signed one if empty")
	keyFile  = flag.String("key", "", "TLS key (PEM)")
	delay    = flag.Duration("delay", 0, "time each request takes")
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "address to listen on")
	terminate := flag.Duration("terminate", 30*time.Second, "overseer TerminateTimeout")
	flag.Parse()
	overseer.Run(overseer.Config{
		Address:          *addr,
		TerminateTimeout: *terminate,
		Program:          program,
		NoWarn:           true,
	})
}

// program serves HTTP/2 (and HTTP/1) until the drain.
func program(state overseer.State) {
	pid := os.Getpid()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(*delay)
		fmt.Fprintf(w, "%s pid %d\n", r.Proto, pid)
	})
	srv := &http.Server{Handler: h}
	var l net.Listener = state.Listener
	if *h2c {
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	} else {
		cert, err := loadCert()
		if err != nil {
			log.Fatal(err)
		}
		// The TLS listener wraps overseer's: the drain and the connection
		// tracking still apply to the connections underneath.
		l = tls.NewListener(l, &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"h2", "http/1.1"},
		})
	}
	fmt.Printf("serving %s pid %d\n", state.Listener.Addr(), pid)
	if err := graceful.Serve(srv, l, state.GracefulShutdown); err != nil {
		slog.Error("serve", "err", err)
	}
}

// loadCert loads -cert and -key, or makes a self-signed certificate for
// 127.0.0.1 and localhost.
func loadCert() (tls.Certificate, error) {
	if *certFile != "" {
		return tls.LoadX509KeyPair(*certFile, *keyFile)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
