module github.com/sessionstore/sessionstore/clients/go

// The lowest go line the pinned dependencies allow: google.golang.org/grpc
// v1.85.0 (and genproto/googleapis/rpc, x/net, x/sys, x/text at these
// versions) declare go 1.26.0; google.golang.org/protobuf v1.36.12 alone needs 1.23.
go 1.26.0

require (
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261104224025-d1e00e9f33ab
	google.golang.org/grpc v1.85.0
	google.golang.org/protobuf v1.36.12
)

require (
	golang.org/x/net v0.60.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)
