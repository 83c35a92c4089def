// Package bench measures github.com/iai-mcp/lifecycle through its public API
// only: the pure transition function against two general-purpose state
// machine packages, durable Dispatch against the bare system calls it cannot
// avoid, and the event log at a million lines.
//
// It is a module of its own so that the library never depends on the
// packages it is compared with. Everything is in the _test.go files; run
// ./run for the whole set, a benchstat table and the ratios the library's
// docs/performance.md quotes.
//
// The benchmarks:
//
//	Cycle/ComputeTransition   one transition of WAKE→DROWSY→SLEEP→HIBERNATION→WAKE
//	Cycle/looplab-fsm         the same with github.com/looplab/fsm (Event)
//	Cycle/stateless           the same with github.com/qmuntal/stateless (Fire)
//	Floor3Fsync               the system calls of a durable transition, no library code
//	Floor2Fsync               the same without the directory fsync
//	DispatchTransition/log=0  a durable Dispatch (WAKE↔DROWSY), empty log
//	DispatchTransition/log=1M the same over a 1,000,000-line, 30-day log
//	DispatchTick              a no-op Dispatch (tick)
//	New/log=0, New/log=1M     opening a Machine, recovery included
//	ReadLog100k, ReadLog1M    streaming the whole log with ReadLog
//	History100k, History1M    summarising the whole log by UTC day (History.Days)
package bench
