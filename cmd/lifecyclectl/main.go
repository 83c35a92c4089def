// Command lifecyclectl inspects and drives a lifecycle directory: the state
// file, the lock and the event log that a daemon using
// github.com/iai-mcp/lifecycle keeps. Run "lifecyclectl help" for the
// commands and exit codes, or "lifecyclectl demo" to watch a simulated
// daemon go through its lifecycle.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
