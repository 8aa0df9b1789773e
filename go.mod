module github.com/seed-710818af/overseer

go 1.22

require (
	aead.dev/minisign v0.3.0
	golang.org/x/sys v0.30.0
)

require golang.org/x/crypto v0.31.0 // indirect
