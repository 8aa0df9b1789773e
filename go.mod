module github.com/seed-710818af/overseer

go 1.22

require golang.org/x/sys v0.30.0
