module github.com/iai-mcp/lifecycle

go 1.26.8

require (
	github.com/google/renameio/v2 v2.0.2 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
