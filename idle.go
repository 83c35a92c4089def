//go:build unix

package lifecycle

import "time"

// Default idle thresholds, the ones the event names speak of.
const (
	DefaultDrowsyAfter = 5 * time.Minute
	DefaultSleepAfter  = 30 * time.Minute
)

// DefaultIdlePolicy is the policy of the Python daemon: DROWSY after five
// idle minutes, SLEEP after thirty.
var DefaultIdlePolicy = IdlePolicy{Drowsy: DefaultDrowsyAfter, Sleep: DefaultSleepAfter}

// IdlePolicy turns what a daemon's loop observed on a tick into the event to
// dispatch. A field that is zero or negative takes its default, so the zero
// IdlePolicy is DefaultIdlePolicy.
type IdlePolicy struct {
	// Drowsy is the idle time after which Next says idle_5min.
	Drowsy time.Duration
	// Sleep is the idle time after which Next says idle_30min, if sleep is
	// allowed.
	Sleep time.Duration
}

// Observation is what a daemon's loop saw on one tick.
type Observation struct {
	// State is the state the loop last saw (from Snapshot or Dispatch). Next
	// reads it only to avoid an event that is a no-op in WAKE.
	State State
	// Idle is the time since the last activity. Measure it on the monotonic
	// clock: time.Since(t) where t came from time.Now in this process. A
	// time parsed from the state file carries no monotonic reading, so a
	// step of the wall clock would move the idle time with it.
	Idle time.Duration
	// Active: a client is connected or a request is in flight.
	Active bool
	// SleepAllowed: nothing forbids sleeping now (no quarantine, no crisis).
	SleepAllowed bool
}

// Next returns the event, and the guards it carries, for a daemon's loop to
// dispatch on this tick:
//
//   - Active: heartbeat_refresh (in DROWSY, back to WAKE; always resets the
//     idle clock in the state file).
//   - Idle at least Sleep, SleepAllowed, and State not WAKE: idle_30min with
//     sleep_eligible (DROWSY to SLEEP).
//   - Idle at least Drowsy: idle_5min (WAKE to DROWSY).
//   - Otherwise: tick, which writes nothing.
//
// Two cases fall to idle_5min on purpose. Idle past Sleep while sleep is not
// allowed: in WAKE that still moves to DROWSY, and in DROWSY it is a no-op,
// so the machine waits in DROWSY until sleep is allowed or activity wakes it.
// Idle past Sleep in WAKE: idle_30min does nothing in WAKE, so a loop whose
// first tick after a long pause (a suspended host, a lock held for minutes)
// already saw thirty idle minutes would stay in WAKE forever; idle_5min
// moves it to DROWSY, and the next tick to SLEEP. An empty or unknown State
// gets the rule without that exception.
//
// Next is pure and does not allocate.
func (p IdlePolicy) Next(obs Observation) (Event, Guards) {
	drowsy, sleep := p.Drowsy, p.Sleep
	if drowsy <= 0 {
		drowsy = DefaultDrowsyAfter
	}
	if sleep <= 0 {
		sleep = DefaultSleepAfter
	}
	switch {
	case obs.Active:
		return HeartbeatRefresh, Guards{}
	case obs.Idle >= sleep && obs.SleepAllowed && obs.State != Wake:
		return Idle30Min, Guards{SleepEligible: true}
	case obs.Idle >= drowsy:
		return Idle5Min, Guards{}
	}
	return Tick, Guards{}
}
