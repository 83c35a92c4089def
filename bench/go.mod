module github.com/iai-mcp/lifecycle/bench

go 1.26.0

require (
	github.com/iai-mcp/lifecycle v0.0.0-00010101000000-000000000000
	github.com/looplab/fsm v1.0.3
	github.com/qmuntal/stateless v1.7.2
)

require (
	github.com/fsnotify/fsnotify v1.10.1 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/iai-mcp/lifecycle => ../
