module github.com/seed-710818af/overseer/integration

go 1.24.0

replace github.com/seed-710818af/overseer => ../

require (
	github.com/coder/websocket v1.8.14
	github.com/jpillora/overseer v1.1.6
	github.com/seed-710818af/overseer v0.0.0-00010101000000-000000000000
	google.golang.org/grpc v1.78.0
)

require (
	aead.dev/minisign v0.3.0 // indirect
	github.com/StackExchange/wmi v0.0.0-20190523213315-cbe66965904d // indirect
	github.com/go-ole/go-ole v1.2.4 // indirect
	github.com/jpillora/s3 v1.1.4 // indirect
	golang.org/x/crypto v0.44.0 // indirect
	golang.org/x/net v0.47.0 // indirect
	golang.org/x/sys v0.38.0 // indirect
	golang.org/x/text v0.31.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20251029180050-ab9386a59fda // indirect
	google.golang.org/protobuf v1.36.10 // indirect
)
